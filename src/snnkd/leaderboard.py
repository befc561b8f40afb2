"""Leaderboards: MLflow runs -> per-dataset tables with statistics, files and plots.

:func:`load_runs` reads the suite's experiment with ``mlflow.search_runs``;
:func:`tidy` turns it into one row per run; :func:`select` keeps one finished
run per (dataset, method, seed), saying why every other run was left out;
:func:`aggregate` computes per dataset and method: seeds, test accuracy
mean and standard deviation (``ddof=1``), the difference to the ``scratch``
student and a Welch t-test against it, spikes per sample and their change in %
(``(s_m - s_ref) / s_ref``), firing rate, SynOps, energy per inference, bits
and model size, a rank by mean accuracy, and membership of the
accuracy-versus-energy Pareto front. :func:`build` writes
``results/leaderboard.{csv,md}``, ``results/pareto.png`` and
``results/firing_rates.png`` and logs the table to MLflow with ``log_table``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from snnkd.suite import REFERENCE, Suite, run_dir

KEYS = ["dataset", "method", "seed"]
NUMBERS = [
    "test_accuracy",
    "spikes_per_sample",
    "firing_rate",
    "synops",
    "energy_pj",
    "weight_bits",
    "model_size_bits",
]
LAYER = "firing_rate/"


def load_runs(experiment: str, uri: str | None = None) -> pd.DataFrame:
    """Every run of ``experiment`` as MLflow's pandas table (empty when the experiment is absent)."""
    import mlflow

    from snnkd import tracking

    mlflow.set_tracking_uri(uri or tracking.tracking_uri())
    if mlflow.get_experiment_by_name(experiment) is None:
        return pd.DataFrame()
    return mlflow.search_runs(experiment_names=[experiment], output_format="pandas", max_results=100_000)


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per method run: keys, status, end time, run key, numbers and per-layer firing rates."""
    cols = ["run_id", "status", "end_time", "run_key", *KEYS, *NUMBERS]
    if raw.empty or "tags.snnkd.role" not in raw:
        return pd.DataFrame(columns=cols)
    runs = raw[raw["tags.snnkd.role"] == "method"]
    out = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "status": runs["status"],
            "end_time": runs["end_time"],
            "run_key": runs.get("tags.snnkd.run_key"),
            "dataset": runs["tags.snnkd.dataset"],
            "method": runs["tags.snnkd.method"],
            "seed": pd.to_numeric(runs["tags.snnkd.seed"]).astype(int),
        }
    )
    for name in NUMBERS:
        out[name] = runs.get(f"metrics.{name}", np.nan)
    for col in raw.columns:
        if col.startswith(f"metrics.{LAYER}"):
            out[col.removeprefix("metrics.")] = runs[col]
    return out.reset_index(drop=True)


def select(
    runs: pd.DataFrame,
    wanted: dict[tuple[str, str, int], str | None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One finished run per (dataset, method, seed); returns (chosen, left out with a ``reason``).

    ``wanted`` maps the suite's (dataset, method, seed) to the run key its
    pipeline output holds (or None): other keys are left out as "not in the
    suite"; where a key is given the run with that key is chosen, else the
    most recent finished one.
    """
    runs = runs.copy()
    runs["reason"] = ""
    runs.loc[runs["status"] != "FINISHED", "reason"] = "status " + runs["status"].astype(str)
    if wanted is not None:
        member = [tuple(k) in wanted for k in runs[KEYS].itertuples(index=False)]
        runs.loc[~np.asarray(member, bool) & (runs["reason"] == ""), "reason"] = "not in the suite"
        stale = [
            wanted.get(tuple(k[:3])) not in (None, k[3])
            for k in runs[[*KEYS, "run_key"]].itertuples(index=False)
        ]
        runs.loc[np.asarray(stale, bool) & (runs["reason"] == ""), "reason"] = "superseded (other config)"
    ok = runs[runs["reason"] == ""].sort_values("end_time")
    latest = ok.drop_duplicates(KEYS, keep="last")
    runs.loc[ok.index.difference(latest.index), "reason"] = "superseded (older duplicate)"
    chosen = runs.loc[latest.index].drop(columns="reason").sort_values(KEYS).reset_index(drop=True)
    left = runs[runs["reason"] != ""].reset_index(drop=True)
    return chosen, left


def welch_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Welch t-test p-value of ``a`` against ``b`` (NaN with fewer than two of either)."""
    from scipy import stats

    a, b = a.dropna(), b.dropna()
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def pareto_front(accuracy: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """True where no other point has at least the accuracy and at most the energy, better in one."""
    acc = np.asarray(accuracy, float)[:, None]
    en = np.asarray(energy, float)[:, None]
    ge, le = acc.T >= acc, en.T <= en  # [i, j]: j at least as good as i
    strictly = (acc.T > acc) | (en.T < en)
    return ~(ge & le & strictly).any(axis=1)


def aggregate(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per dataset and method: statistics over seeds, comparison with ``reference``, rank and Pareto front."""
    stats = runs.groupby(["dataset", "method"]).agg(
        n_seeds=("seed", "nunique"),
        test_acc_mean=("test_accuracy", "mean"),
        test_acc_std=("test_accuracy", "std"),
        spikes_per_sample=("spikes_per_sample", "mean"),
        firing_rate=("firing_rate", "mean"),
        synops=("synops", "mean"),
        energy_pj=("energy_pj", "mean"),
        energy_pj_std=("energy_pj", "std"),
        weight_bits=("weight_bits", "max"),
        model_size_bits=("model_size_bits", "mean"),
    )
    stats = stats.reset_index()
    ref = stats[stats["method"] == reference].set_index("dataset")
    stats["delta_acc"] = stats["test_acc_mean"] - stats["dataset"].map(ref["test_acc_mean"])
    ref_spikes = stats["dataset"].map(ref["spikes_per_sample"])
    stats["spikes_change_pct"] = 100.0 * (stats["spikes_per_sample"] - ref_spikes) / ref_spikes
    accs = runs.groupby(["dataset", "method"])["test_accuracy"]
    stats["p_value"] = [
        float("nan")
        if m == reference or (d, reference) not in accs.groups
        else welch_p(accs.get_group((d, m)), accs.get_group((d, reference)))
        for d, m in stats[["dataset", "method"]].itertuples(index=False)
    ]
    stats["pareto"] = False
    for _, idx in stats.groupby("dataset").groups.items():
        part = stats.loc[idx]
        stats.loc[idx, "pareto"] = pareto_front(
            part["test_acc_mean"].to_numpy(), part["energy_pj"].to_numpy()
        )
    stats["rank"] = stats.groupby("dataset")["test_acc_mean"].rank(ascending=False, method="min").astype(int)
    order = [
        "dataset", "rank", "method", "n_seeds", "test_acc_mean", "test_acc_std", "delta_acc", "p_value",
        "spikes_per_sample", "spikes_change_pct", "firing_rate", "synops", "energy_pj", "energy_pj_std",
        "weight_bits", "model_size_bits", "pareto",
    ]  # fmt: skip
    return stats[order].sort_values(["dataset", "rank", "method"]).reset_index(drop=True)


def layer_rates(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean firing rate per (dataset, method, layer) over seeds."""
    cols = [c for c in runs.columns if c.startswith(LAYER)]
    if not cols:
        return pd.DataFrame(columns=["dataset", "method", "layer", "firing_rate"])
    long = runs.melt(id_vars=["dataset", "method"], value_vars=cols, var_name="layer", value_name="rate")
    long["layer"] = long["layer"].str.removeprefix(LAYER)
    means = long.dropna().groupby(["dataset", "method", "layer"], as_index=False)["rate"].mean()
    return means.rename(columns={"rate": "firing_rate"})


def _signed(x: float, fmt: str) -> str:
    return "–" if pd.isna(x) else format(x, "+" + fmt)


def to_markdown(table: pd.DataFrame, left: pd.DataFrame, suite: str) -> str:
    """The leaderboard as Markdown: one table per dataset, then what was left out and why."""
    lines = [
        f"# Leaderboard: suite `{suite}`",
        "",
        "Test accuracy mean ± std over seeds; Δ and p against `scratch` (Welch t-test); "
        "spikes per sample with their change vs `scratch`; energy per inference "
        "(45 nm, E = 4.6 pJ·MAC + 0.9 pJ·SynOp, SpikingJelly `op_counter`); ★ = on the "
        "accuracy-versus-energy Pareto front.",
    ]
    for dataset, part in table.groupby("dataset", sort=True):
        view = pd.DataFrame(
            {
                "#": part["rank"],
                "method": part["method"],
                "seeds": part["n_seeds"],
                "test acc (%)": [
                    f"{100 * m:.2f} ± {100 * s:.2f}" if pd.notna(s) else f"{100 * m:.2f}"
                    for m, s in zip(part["test_acc_mean"], part["test_acc_std"], strict=True)
                ],
                "Δ acc (pp)": [_signed(100 * d, ".2f") for d in part["delta_acc"]],
                "p": ["–" if pd.isna(p) else f"{p:.3f}" for p in part["p_value"]],
                "spikes/sample": [
                    f"{s:.1f} ({_signed(c, '.1f')} %)"
                    for s, c in zip(part["spikes_per_sample"], part["spikes_change_pct"], strict=True)
                ],
                "firing rate": part["firing_rate"].map("{:.4f}".format),
                "SynOps": part["synops"].map("{:.3g}".format),
                "energy (nJ)": (part["energy_pj"] / 1e3).map("{:.1f}".format),
                "bits": part["weight_bits"].map("{:.0f}".format),
                "size (KiB)": (part["model_size_bits"] / 8192).map("{:.1f}".format),
                "Pareto": part["pareto"].map({True: "★", False: ""}),
            }
        )
        lines += ["", f"## {dataset}", "", view.to_markdown(index=False, disable_numparse=True)]
    lines += ["", f"Runs left out: {len(left)}."]
    if len(left):
        counts = left.groupby("reason").size()
        lines += [f"- {reason}: {n}" for reason, n in counts.items()]
    return "\n".join(lines) + "\n"


def wanted_runs(suite: Suite) -> dict[tuple[str, str, int], str | None]:
    """The suite's (dataset, method, seed) and the run key of each one's pipeline output."""
    from snnkd import run_files
    from snnkd.tracking import run_key

    out: dict[tuple[str, str, int], str | None] = {}
    for d in suite.datasets:
        for m in suite.methods:
            for s in suite.seeds:
                folder = run_dir(d, m, s)
                key = None
                if (folder / run_files.METRICS_FILE).is_file() and (folder / run_files.RUN_FILE).is_file():
                    data = run_files.read_record(folder)  # identity and teacher are in run.json
                    key = run_key(data["identity"], (data.get("teacher") or {}).get("sha256"))
                out[(d, m, s)] = key
    return out


def build(
    suite: Suite, out_dir: Path = Path("results"), uri: str | None = None, log: bool = True
) -> dict[str, Any]:
    """Read the suite's runs from MLflow and write the leaderboard files; returns what was written."""
    from snnkd import plots, report

    runs, left = select(tidy(load_runs(suite.experiment(), uri)), wanted_runs(suite))
    if runs.empty:
        from snnkd.errors import SnnkdError

        raise SnnkdError(f"leaderboard: no finished runs of suite '{suite.suite}' in MLflow")
    table = aggregate(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "csv": out_dir / "leaderboard.csv",
        "md": out_dir / "leaderboard.md",
        "pareto": out_dir / "pareto.png",
        "layers": out_dir / "firing_rates.png",
    }
    table.to_csv(files["csv"], index=False, float_format="%.6g")
    files["md"].write_text(to_markdown(table, left, suite.suite))
    plots.pareto(runs, files["pareto"])
    plots.layer_rates(runs, files["layers"])
    result = {"table": table, "runs": runs, "left_out": left, "files": files}
    files["report"] = report.write(result, out_dir / "report.html", suite)  # and neurobench.csv
    files["neurobench"] = out_dir / "neurobench.csv"
    if log:
        _log(suite, table, files)
    return result


def _log(suite: Suite, table: pd.DataFrame, files: dict[str, Path]) -> None:
    """One ``leaderboard`` run in the suite's experiment holding the table and the plots."""
    import mlflow

    from snnkd import tracking

    exp = tracking.get_or_create_experiment(mlflow.MlflowClient(), suite.experiment())
    with mlflow.start_run(experiment_id=exp, run_name="leaderboard", tags={"snnkd.role": "leaderboard"}):
        mlflow.log_table(table, artifact_file="leaderboard.json")
        for key in ("md", "pareto", "layers"):
            mlflow.log_artifact(str(files[key]))
