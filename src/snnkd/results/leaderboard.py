"""Leaderboards: MLflow runs -> per-dataset tables with statistics, files and plots.

:func:`load_runs` reads the suite's experiment with ``mlflow.search_runs``;
:func:`tidy` turns it into one row per run; :func:`select` keeps one finished
run per (dataset, method, seed), saying why every other run was left out;
:func:`aggregate` computes per dataset and method, with :mod:`snnkd.results.stats`: the
epochs trained, test accuracy and spikes per sample with 95 % CIs over seeds,
the paired difference to ``scratch`` (same seeds) with its CI, paired t and
Wilcoxon p-values, Holm-corrected across the dataset's methods, significance
groups instead of a rank by mean, methods at chance flagged, the accuracy
verdict against ``scratch`` within the suite's margin (TOST and non-inferiority,
Holm), and the noise-aware accuracy-versus-spikes Pareto front (significance
gated). :func:`snnkd.results.tradeoff` adds activity at iso-accuracy in spikes, SynOps and
energy, and activity per layer. :func:`build` writes
``results/<suite>/leaderboard.{csv,md}``, ``pareto.png`` and
``firing_rates.png`` there and logs the table to MLflow with ``log_table``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from snnkd.pipeline.suite import REFERENCE, Suite, run_dir

KEYS = ["dataset", "method", "seed"]
NUMBERS = [
    "test_accuracy",
    "val_accuracy",
    "spikes_per_sample",
    "firing_rate",
    "synops",
    "energy_pj",
    "weight_bits",
    "model_size_bits",
    "epochs",
    "best_epoch",
    "max_epochs",
]
LAYER = "firing_rate/"


def load_runs(experiment: str, uri: str | None = None) -> pd.DataFrame:
    """Every run of ``experiment`` as MLflow's pandas table (empty when the experiment is absent)."""
    import mlflow

    from snnkd.tracking import store

    uri = uri or store.tracking_uri()
    if store.check_store(experiment, uri, create=False) is None:  # a damaged store: one line
        return pd.DataFrame()
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment], output_format="pandas", max_results=100_000)


def tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per method run: keys, status, end time, run key, numbers and per-layer firing rates."""
    cols = ["run_id", "status", "end_time", "run_key", *KEYS, *NUMBERS]
    if raw.empty or "tags.snnkd.role" not in raw:
        return pd.DataFrame(columns=cols)
    runs = raw[raw["tags.snnkd.role"] == "method"]
    method = runs["tags.snnkd.method"]
    if "tags.snnkd.variant" in runs:  # a sweep point goes by its variant's name
        method = runs["tags.snnkd.variant"].fillna(method)
    out = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "status": runs["status"],
            "end_time": runs["end_time"],
            "run_key": runs.get("tags.snnkd.run_key"),
            "dataset": runs["tags.snnkd.dataset"],
            "method": method,
            "seed": pd.to_numeric(runs["tags.snnkd.seed"]).astype(int),
        }
    )
    for name in NUMBERS:
        out[name] = runs.get(f"metrics.{name}", np.nan)
    for col in raw.columns:
        if col.startswith(f"metrics.{LAYER}"):
            out[col.removeprefix("metrics.")] = runs[col]
    return out.reset_index(drop=True)


Published = tuple[str, str, int, Path, str, dict[str, Any]]  # dataset, method, seed, folder, run key, metrics
DAMAGED = "damaged run files"


def scan_published(suite: Suite) -> tuple[list[Published], dict[tuple[str, str, int], str]]:
    """Every suite run whose ``metrics.json`` and ``run.json`` are both published, read and checked
    (:mod:`snnkd.tracking.published`): ``(dataset, method, seed, folder, run key, metrics)`` of the sound
    ones (the run key from run.json's identity and teacher), and ``{(dataset, method, seed):
    "folder: what is wrong"}`` of the damaged ones, which the leaderboard leaves out and lists."""
    from snnkd.evaluation import run_files
    from snnkd.tracking.provenance import run_key
    from snnkd.tracking.published import DamagedRun, read_run

    sound: list[Published] = []
    damaged: dict[tuple[str, str, int], str] = {}
    for d, m, seed in itertools.product(suite.datasets, suite.run_names(), suite.seeds):
        folder = run_dir(suite.suite, d, m, seed)
        if not all((folder / name).is_file() for name in (run_files.METRICS_FILE, run_files.RUN_FILE)):
            continue
        try:
            metrics, record = read_run(folder)
        except DamagedRun as err:
            damaged[(d, m, seed)] = f"{folder}: {err}"
            continue
        key = run_key(record["identity"], (record.get("teacher") or {}).get("sha256"))
        sound.append((d, m, seed, folder, key, metrics))
    return sound, damaged


def published_runs(suite: Suite, scan: list[Published] | None = None) -> pd.DataFrame:
    """The suite's runs read from their published files (``results/<suite>/runs/<d>/<m>/seed<k>/``), in
    :func:`tidy`'s layout: a leaderboard rebuilt from a clone, with no MLflow store.

    ``metrics.json`` holds the numbers and per-layer rates, ``run.json`` the identity that
    makes the run key; a run whose two files are not both there is absent (as an unfinished
    MLflow run would be left out), and so is a damaged one (:func:`scan_published`).
    """
    rows = []
    for d, m, seed, folder, key, metrics in scan_published(suite)[0] if scan is None else scan:
        row: dict[str, Any] = {
            "run_id": str(folder),
            "status": "FINISHED",
            "end_time": pd.NaT,
            "run_key": key,
            "dataset": d,
            "method": m,
            "seed": seed,
        }
        row.update({name: metrics.get(name, np.nan) for name in NUMBERS})
        for layer, rate in (metrics.get("firing_rate_per_layer") or {}).items():
            row[f"{LAYER}{layer}"] = float(rate)
        rows.append(row)
    cols = ["run_id", "status", "end_time", "run_key", *KEYS, *NUMBERS]
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*cols, *(k for r in rows for k in r)])))


def leave_out_damaged(
    raw: pd.DataFrame, damaged: dict[tuple[str, str, int], str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``raw`` without the finished runs of damaged publications (``damaged``, from
    :func:`scan_published`) or with values outside their ranges (an MLflow run whose accuracy
    is NaN, say), and what was left out, with its ``reason``: those rows, and one row per
    damaged publication without one. Runs found out of range are added to ``damaged``."""
    from snnkd.tracking.published import DamagedRun, check_numbers

    bad = np.zeros(len(raw), bool)
    for i, row in enumerate(raw.to_dict("records")):
        if row["status"] != "FINISHED":  # left out by select, with its status as the reason
            continue
        if (row["dataset"], row["method"], int(row["seed"])) in damaged:
            bad[i] = True
            continue
        present = {str(k): v for k, v in row.items() if not pd.isna(v)}  # NaN: not logged
        values: dict[str, Any] = {k: present[k] for k in NUMBERS if k in present}
        layers = {k.removeprefix(LAYER): v for k, v in present.items() if k.startswith(LAYER)}
        try:
            check_numbers({**values, "firing_rate_per_layer": layers}, "run")
        except DamagedRun as err:
            damaged[(row["dataset"], row["method"], int(row["seed"]))] = f"{row['run_id']}: {err}"
            bad[i] = True
    left = raw[bad].assign(reason=DAMAGED)
    listed = set(left[KEYS].itertuples(index=False, name=None))
    unread = [  # damaged publications with no row (read from files: they never became one)
        {"run_id": damaged[key].split(": ", 1)[0], "status": "FINISHED", **dict(zip(KEYS, key, strict=True))}
        for key in damaged
        if key not in listed
    ]
    if unread:
        left = pd.concat([left, pd.DataFrame(unread).assign(reason=DAMAGED)], ignore_index=True)
    return raw[~bad].reset_index(drop=True), left.reset_index(drop=True)


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


def _by_seed(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` as a (seed x method) table: seeds pair the methods (NaN where a seed is missing)."""
    return runs.pivot_table(index="seed", columns="method", values=column, aggfunc="first")


def _chance(dataset: str) -> float:
    from snnkd.data import DATASETS

    return 1.0 / DATASETS.get(dataset).info.num_classes if dataset in DATASETS else float("nan")


CHANCE_MARGIN = 0.05  # a method within 5 points of chance (1/C) learned nothing worth ranking


def aggregate(runs: pd.DataFrame, reference: str = REFERENCE, delta_pp: float = 0.5) -> pd.DataFrame:
    """Per dataset and method: CIs over seeds, paired comparisons with ``reference``, groups, front.

    Accuracy and spikes per sample each get: mean, std and 95 % t CI over seeds; the paired
    difference to ``reference`` over the seeds both have, with its 95 % CI, the paired t-test and
    the Wilcoxon signed-rank p, and the t p Holm-corrected over the dataset's methods
    (:mod:`snnkd.results.stats`). ``rank`` is the significance group (1 + methods significantly more
    accurate, pairwise paired t, Holm); methods within 5 points of chance are flagged
    ``at_chance`` and get no rank. ``acc_verdict`` reads the accuracy against ``reference`` with
    margin ``delta_pp`` (paired TOST and non-inferiority, Holm over the dataset's methods:
    :func:`snnkd.results.stats.equivalence_verdict`). ``pareto`` is the noise-aware accuracy-versus-spikes
    front, restricted to points significantly better than ``reference`` on at least one axis.
    """
    from snnkd.results import stats as S

    rows = []
    for dataset, part in runs.groupby("dataset", sort=True):
        acc, spk = _by_seed(part, "test_accuracy"), _by_seed(part, "spikes_per_sample")
        chance = _chance(str(dataset))
        for method in acc.columns:
            sub = part[part["method"] == method]
            a, k = S.mean_ci(acc[method]), S.mean_ci(spk[method])
            row = {
                "dataset": dataset,
                "method": method,
                "n_seeds": int(sub["seed"].nunique()),
                "epochs_mean": sub["epochs"].mean() if "epochs" in sub else np.nan,
                "epochs_min": sub["epochs"].min() if "epochs" in sub else np.nan,
                "epochs_max": sub["epochs"].max() if "epochs" in sub else np.nan,
                "test_acc_mean": a.mean,
                "test_acc_std": sub["test_accuracy"].std(ddof=1),
                "test_acc_ci_low": max(a.low, 0.0),  # the t interval, clipped to what accuracy can be
                "test_acc_ci_high": min(a.high, 1.0),
                "spikes_per_sample": k.mean,
                "spikes_std": sub["spikes_per_sample"].std(ddof=1),
                "spikes_ci_low": max(k.low, 0.0),
                "spikes_ci_high": k.high,
                "at_chance": bool(a.mean < chance + CHANCE_MARGIN),
            }
            for col in ("firing_rate", "synops", "energy_pj", "model_size_bits"):
                row[col] = sub[col].mean() if col in sub else np.nan
            for col in ("synops", "energy_pj"):
                row[f"{col}_std"] = sub[col].std(ddof=1) if col in sub else np.nan
            row["weight_bits"] = sub["weight_bits"].max() if "weight_bits" in sub else np.nan
            for name, table in (("acc", acc), ("spikes", spk)):
                if method == reference or reference not in table:
                    c = S.Paired(np.nan, np.nan, np.nan, 0, np.nan, np.nan)
                else:
                    c = S.paired(table[method], table[reference])
                scale = 1.0
                if name == "spikes":  # relative to the reference's mean, in %
                    ref_mean = float(np.nanmean(table[reference])) if reference in table else np.nan
                    scale = 100.0 / ref_mean if ref_mean else np.nan
                row[f"delta_{name}"] = c.diff * scale if method != reference else 0.0
                row[f"delta_{name}_ci_low"] = c.low * scale
                row[f"delta_{name}_ci_high"] = c.high * scale
                row[f"p_{name}"] = c.p_t
                row[f"p_{name}_wilcoxon"] = c.p_wilcoxon
            ok = method != reference and reference in acc
            e = S.equivalence(acc[method], acc[reference], delta_pp / 100) if ok else None
            for key in ("p_tost", "p_noninferior", "p_worse"):
                row[f"{key}_acc"] = getattr(e, key) if e else np.nan
            row["acc_ci90_half_width"] = e.half_width if e else np.nan
            rows.append(row)
    stats = pd.DataFrame(rows)
    if stats.empty:
        return stats
    stats["spikes_change_pct"] = stats["delta_spikes"]
    stats["rank"] = pd.array([pd.NA] * len(stats), dtype="Int64")
    stats["pareto"] = False
    for dataset, idx in stats.groupby("dataset").groups.items():
        part = runs[runs["dataset"] == dataset]
        for name in ("acc", "spikes"):
            stats.loc[idx, f"p_{name}_holm"] = S.holm(stats.loc[idx, f"p_{name}"].to_numpy())
        for key in ("p_tost", "p_noninferior", "p_worse"):
            stats.loc[idx, f"{key}_acc_holm"] = S.holm(stats.loc[idx, f"{key}_acc"].to_numpy())
        better = {  # significantly better than the reference on accuracy or on spikes (Holm)
            r.method: bool(
                (r.p_acc_holm < S.ALPHA and r.delta_acc > 0)
                or (r.p_spikes_holm < S.ALPHA and r.delta_spikes < 0)
            )
            for r in stats.loc[idx].itertuples()
        }
        ranked = stats.loc[idx][~stats.loc[idx, "at_chance"]]
        if len(ranked):
            acc = _by_seed(part[part["method"].isin(ranked["method"])], "test_accuracy")
            spk = _by_seed(part[part["method"].isin(ranked["method"])], "spikes_per_sample")
            groups = S.significance_ranks({m: acc[m].to_numpy() for m in acc.columns})
            front = S.noise_aware_front(
                {m: acc[m].to_numpy() for m in acc.columns},
                {m: spk[m].to_numpy() for m in spk.columns},
                beats_reference=better,
            )
            for i in ranked.index:
                stats.loc[i, "rank"] = groups[stats.loc[i, "method"]]
                stats.loc[i, "pareto"] = front[stats.loc[i, "method"]]
    for name in ("acc", "spikes"):
        stats[f"significant_{name}"] = stats[f"p_{name}_holm"] < S.ALPHA
    stats["pareto"] = stats["pareto"].astype(bool)
    stats["acc_verdict"] = [
        "reference"
        if r.method == reference
        else S.equivalence_verdict(
            r.p_tost_acc_holm, r.p_noninferior_acc_holm, r.p_worse_acc_holm, r.delta_acc
        )
        for r in stats.itertuples()
    ]
    order = [
        "dataset", "rank", "method", "n_seeds", "epochs_mean", "epochs_min", "epochs_max",
        "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high",
        "delta_acc", "delta_acc_ci_low", "delta_acc_ci_high", "p_acc", "p_acc_wilcoxon", "p_acc_holm",
        "significant_acc", "acc_ci90_half_width", "p_tost_acc_holm", "p_noninferior_acc_holm", "acc_verdict",
        "spikes_per_sample", "spikes_std", "spikes_ci_low", "spikes_ci_high",
        "delta_spikes", "delta_spikes_ci_low", "delta_spikes_ci_high", "p_spikes", "p_spikes_wilcoxon",
        "p_spikes_holm", "significant_spikes", "spikes_change_pct",
        "firing_rate", "synops", "synops_std", "energy_pj", "energy_pj_std", "weight_bits",
        "model_size_bits", "at_chance", "pareto",
    ]  # fmt: skip
    stats = stats[order]
    stats["_unranked"] = stats["rank"].isna()
    stats = stats.sort_values(
        ["dataset", "_unranked", "rank", "test_acc_mean"], ascending=[True, True, True, False]
    )
    return stats.drop(columns="_unranked").reset_index(drop=True)


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


def _ci(low: float, high: float, fmt: str, signed: bool = False) -> str:
    if pd.isna(low) or pd.isna(high):
        return ""
    f = (lambda v: _signed(v, fmt)) if signed else (lambda v: format(v, fmt))
    return f" [{f(low)}, {f(high)}]"


def _p(p: float) -> str:
    if pd.isna(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _epochs(row) -> str:
    if pd.isna(row.epochs_mean):
        return "–"
    if row.epochs_min == row.epochs_max:
        return f"{row.epochs_mean:.0f}"
    return f"{row.epochs_mean:.1f} ({row.epochs_min:.0f}–{row.epochs_max:.0f})"


def display_frames(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, the leaderboard as strings (the Markdown and HTML tables show the same cells).

    The Wilcoxon column is left out where no method has the seeds to reach p < 0.05 with it
    (:func:`snnkd.results.stats.wilcoxon_can_reject`: 6 pairs at least).
    """
    from snnkd.results import stats as S

    out: dict[str, pd.DataFrame] = {}
    for dataset, part in table.groupby("dataset", sort=True):
        rows = []
        for r in part.itertuples(index=False):
            rows.append(
                {
                    "group": "at chance" if r.at_chance else str(r.rank),
                    "method": r.method,
                    "seeds": str(r.n_seeds),
                    "epochs": _epochs(r),
                    "test acc % [95% CI]": f"{100 * r.test_acc_mean:.2f}"
                    + _ci(100 * r.test_acc_ci_low, 100 * r.test_acc_ci_high, ".2f"),
                    "Δ acc pp [95% CI]": "–"
                    if r.method == REFERENCE
                    else _signed(100 * r.delta_acc, ".2f")
                    + _ci(100 * r.delta_acc_ci_low, 100 * r.delta_acc_ci_high, ".2f", signed=True),
                    "p (Holm)": _p(r.p_acc_holm) + (" *" if r.significant_acc else ""),
                    "p (Wilcoxon)": _p(r.p_acc_wilcoxon),
                    "accuracy vs scratch": "–" if r.method == REFERENCE else r.acc_verdict,
                    "spikes/sample [95% CI]": f"{r.spikes_per_sample:.1f}"
                    + _ci(r.spikes_ci_low, r.spikes_ci_high, ".1f"),
                    "Δ spikes % [95% CI]": "–"
                    if r.method == REFERENCE
                    else _signed(r.delta_spikes, ".1f")
                    + _ci(r.delta_spikes_ci_low, r.delta_spikes_ci_high, ".1f", signed=True),
                    "p spikes (Holm)": _p(r.p_spikes_holm) + (" *" if r.significant_spikes else ""),
                    "SynOps": f"{r.synops:.3g}",
                    "energy (nJ)": f"{r.energy_pj / 1e3:.1f}",
                    "bits": f"{r.weight_bits:.0f}",
                    "Pareto": "★" if r.pareto else "",
                }
            )
        frame = pd.DataFrame(rows)
        if not any(S.wilcoxon_can_reject(int(n)) for n in part["n_seeds"]):
            frame = frame.drop(columns="p (Wilcoxon)")
        out[str(dataset)] = frame
    return out


def legend(delta_pp: float = 0.5) -> str:
    """The leaderboard's legend, with the suite's accuracy margin ``delta_pp``."""
    return (
        "Mean over seeds with its 95 % t confidence interval. Δ: the paired difference to `scratch` "
        "over the same seeds (same initialisation and data order), with its 95 % CI; p: paired t-test, "
        "Holm-corrected over the dataset's methods (* = p < 0.05). The Wilcoxon signed-rank p "
        "(uncorrected) is shown only where the seeds let it reach 0.05 (6 seeds or more; with 5 its "
        "smallest p is 0.0625). accuracy vs scratch: paired TOST with margin "
        f"δ = ±{delta_pp:g} pp and the one-sided non-inferiority test (Holm over the dataset's "
        "methods): equivalent within δ, non-inferior, worse (significantly lower), or inconclusive "
        "(the CI is wider than the margin); no significant difference is never read as equal. "
        "group: 1 + the number of methods significantly more accurate (all pairwise paired t-tests, "
        "Holm): methods that share a group are not separated by the data. Methods within 5 points of "
        "chance are flagged, not ranked. ★: on the accuracy-versus-spikes Pareto front, significantly "
        "better than every point that beats it on the other axis, and significantly better than "
        "`scratch` on accuracy or spikes (Holm); fewer spikes need not mean fewer SynOps (see activity "
        "at iso-accuracy below). Energy: 45 nm, SpikingJelly `op_counter`."
    )


def to_markdown(
    table: pd.DataFrame,
    left: pd.DataFrame,
    suite: str,
    context: dict[str, list[str]] | None = None,
    delta_pp: float = 0.5,
    iso: pd.DataFrame | None = None,
    layers: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
) -> str:
    """The leaderboard as Markdown: per dataset its budget line and table, the sweeps' trade-off
    curves, activity at iso-accuracy and per layer (where given), then what was left out."""
    from snnkd.results import tradeoff

    curve_views = tradeoff.curve_frames(curves if curves is not None else pd.DataFrame())
    iso_views = tradeoff.iso_frames(iso if iso is not None else pd.DataFrame())
    layer_views = tradeoff.layer_frames(layers if layers is not None else pd.DataFrame())
    lines = [f"# Leaderboard: suite `{suite}`", "", legend(delta_pp)]
    for dataset, view in display_frames(table).items():
        lines += ["", f"## {dataset}", ""]
        lines += [f"- {text}" for text in (context or {}).get(dataset, [])]
        if (context or {}).get(dataset):
            lines.append("")
        lines.append(view.to_markdown(index=False, disable_numparse=True))
        if dataset in curve_views:
            lines += ["", f"### {dataset}: trade-off curves", "", tradeoff.CURVE_LEGEND, ""]
            lines.append(curve_views[dataset].to_markdown(index=False, disable_numparse=True))
        if dataset in iso_views:
            lines += ["", f"### {dataset}: activity at iso-accuracy", "", tradeoff.iso_legend(delta_pp), ""]
            lines.append(iso_views[dataset].to_markdown(index=False, disable_numparse=True))
        if dataset in layer_views:
            lines += ["", f"### {dataset}: where activity goes", "", tradeoff.LAYER_LEGEND, ""]
            lines.append(layer_views[dataset].to_markdown(index=False, disable_numparse=True))
    lines += ["", f"Runs left out: {len(left)}."]
    if len(left):
        counts = left.groupby("reason").size()
        lines += [f"- {reason}: {n}" for reason, n in counts.items()]
    return "\n".join(lines) + "\n"


def context_lines(
    suite: Suite, runs: pd.DataFrame, damaged: dict[tuple[str, str, int], str] | None = None
) -> dict[str, list[str]]:
    """Per dataset: the student budget, the epochs actually trained, the reference networks' accuracy
    and the runs left out because their files are damaged (with what is wrong)."""
    from snnkd.pipeline.suite import network_dir
    from snnkd.tracking.published import NETWORK_REQUIRED, DamagedRun, read_metrics

    out: dict[str, list[str]] = {}
    for dataset in suite.datasets:
        train = {**suite.common.get("train", {}), **suite.budgets.get(dataset, {}).get("train", {})}
        budget = ", ".join(f"{k} {v}" for k, v in sorted(train.items()))
        part = runs[runs["dataset"] == dataset]
        steps = suite.budgets.get(dataset, {}).get("T", suite.common.get("T", 4))  # a budget may set T
        lines = [f"student budget: {budget}; T = {steps}; seeds {suite.seeds}"]
        if "epochs" in part and len(part):
            lines.append(
                f"epochs trained: {part['epochs'].min():.0f}–{part['epochs'].max():.0f} "
                f"(median {part['epochs'].median():.0f}), best-validation weights restored"
            )
        refs = []
        for name in suite.network_names():  # a network trained on several seeds: each one
            folder = network_dir(suite.suite, dataset, name)
            if (folder / "metrics.json").is_file():
                try:
                    m = read_metrics(folder, NETWORK_REQUIRED)
                except DamagedRun as err:
                    refs.append(f"{name} damaged ({folder}: {err})")
                    continue
                refs.append(f"{name} {100 * m['test_accuracy']:.2f} % ({m.get('epochs', '?')} epochs)")
        if refs:
            lines.append("reference networks (test): " + ", ".join(refs))
        lines += [
            f"left out, {DAMAGED}: {m} seed {seed} ({why})"
            for (d, m, seed), why in sorted((damaged or {}).items())
            if d == dataset
        ]
        out[dataset] = lines
    return out


def wanted_runs(suite: Suite, scan: list[Published] | None = None) -> dict[tuple[str, str, int], str | None]:
    """The suite's (dataset, method, seed) and the run key of each one's pipeline output
    (None where there is none, or it is damaged)."""
    out: dict[tuple[str, str, int], str | None] = dict.fromkeys(
        ((d, m, s) for d in suite.datasets for m in suite.run_names() for s in suite.seeds), None
    )
    sound = scan_published(suite)[0] if scan is None else scan
    out.update({(d, m, seed): key for d, m, seed, _, key, _ in sound})
    return out


def build(
    suite: Suite,
    out_dir: Path | None = None,
    uri: str | None = None,
    log: bool = True,
    from_files: bool = False,
) -> dict[str, Any]:
    """Read the suite's runs from MLflow (or, ``from_files``, from their published run files)
    and write the leaderboard files; returns what was written.

    A run whose published files are damaged, or whose values lie outside their ranges, is left
    out and listed (``result["damaged"]``, the dataset's lines of ``leaderboard.md``, the count
    of runs left out). The files are written all together or not at all (:mod:`snnkd.results.file_set`),
    into ``out_dir`` (default: the suite's folder ``results/<suite>/``).
    """
    from snnkd.pipeline.suite import suite_dir
    from snnkd.results import plots, report
    from snnkd.results.file_set import staged

    out_dir = suite_dir(suite.suite) if out_dir is None else Path(out_dir)
    sound, damaged = scan_published(suite)
    raw = published_runs(suite, sound) if from_files else tidy(load_runs(suite.experiment(), uri))
    raw, broken = leave_out_damaged(raw, damaged)
    runs, left = select(raw, wanted_runs(suite, sound))
    left = pd.concat([left, broken], ignore_index=True) if len(broken) else left
    if runs.empty:
        from snnkd.errors import SnnkdError

        where = f"in results/{suite.suite}/runs" if from_files else "in MLflow"
        raise SnnkdError(f"leaderboard: no finished runs of suite '{suite.suite}' {where}")
    from snnkd.results import tradeoff
    from snnkd.results.layer_ops import student_fanouts

    fanouts = {d: student_fanouts(d, suite.student, suite.common) for d in sorted(runs["dataset"].unique())}
    order = {d: list(f) for d, f in fanouts.items()}  # the network's order of its spiking layers
    runs = in_curve_order(network_order(runs, order), suite)
    variants = suite.variants()
    main = runs[runs["method"].isin(list(suite.methods))].reset_index(drop=True)  # sweeps: curves only
    table = aggregate(main, delta_pp=suite.margin_pp)
    iso = tradeoff.iso_accuracy(runs, delta_pp=suite.margin_pp, family=lambda m: _family(variants, m))
    layers = tradeoff.layer_activity(main, fanouts)
    curves = tradeoff.sweep_curves(runs, variants, suite.datasets)
    sweeps = {name: v.method for name, v in variants.items()}
    names = {
        "csv": "leaderboard.csv",
        "md": "leaderboard.md",
        "pareto": "pareto.png",
        "layers": "firing_rates.png",
        "report": "report.html",
        "neurobench": "neurobench.csv",  # written by report.write beside report.html
    }
    result = {
        "table": table,
        "frames": display_frames(table),
        "runs": main,
        "points": runs,
        "sweeps": sweeps,
        "left_out": left,
        "iso": iso,
        "layers": layers,
        "layer_order": order,
        "curves": curves,
        "margin_pp": suite.margin_pp,
    }
    with staged(out_dir) as stage:
        table.to_csv(stage / names["csv"], index=False, float_format="%.6g")
        md = to_markdown(
            table,
            left,
            suite.suite,
            context_lines(suite, main, damaged),
            suite.margin_pp,
            iso,
            layers,
            curves,
        )
        (stage / names["md"]).write_text(md)
        plots.pareto(runs, stage / names["pareto"], sweeps)
        plots.layer_rates(main, stage / names["layers"], order)
        report.write(result, stage / names["report"], suite)
    files = {key: out_dir / name for key, name in names.items()}
    result.update(files=files, damaged=damaged)
    if log:
        _log(suite, table, files)
    return result


def _family(variants: dict[str, Any], method: str) -> str:
    return variants[method].family if method in variants else method


def network_order(runs: pd.DataFrame, order: dict[str, list[str]]) -> pd.DataFrame:
    """``runs`` with its per-layer columns in the networks' order (each dataset's, datasets sorted;
    layers no network names last, sorted), whichever source the table came from."""
    layer_cols = [c for c in runs.columns if c.startswith(LAYER)]
    ranked = [f"{LAYER}{n}" for d in sorted(order) for n in order[d]]
    ranked = [c for c in dict.fromkeys(ranked) if c in layer_cols]
    ranked += sorted(c for c in layer_cols if c not in ranked)
    return runs[[c for c in runs.columns if c not in layer_cols] + ranked]


def in_curve_order(runs: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """Rows by dataset, then the methods (sorted), then each sweep's points in increasing value, then
    seed: the order in which :func:`snnkd.results.tradeoff.iso_accuracy` reads a sweep as a curve."""
    rank = {name: i for i, name in enumerate([*sorted(suite.methods), *suite.variants()])}
    keyed = runs.assign(_curve=runs["method"].map(rank).fillna(len(rank)))
    keyed = keyed.sort_values(["dataset", "_curve", "method", "seed"], kind="stable")
    return keyed.drop(columns="_curve").reset_index(drop=True)


def _log(suite: Suite, table: pd.DataFrame, files: dict[str, Path]) -> None:
    """One ``leaderboard`` run in the suite's experiment holding the table and the plots."""
    import mlflow

    from snnkd.tracking import store

    exp = store.get_or_create_experiment(mlflow.MlflowClient(), suite.experiment())
    with mlflow.start_run(experiment_id=exp, run_name="leaderboard", tags={"snnkd.role": "leaderboard"}):
        mlflow.log_table(table, artifact_file="leaderboard.json")
        for key in ("md", "pareto", "layers"):
            mlflow.log_artifact(str(files[key]))
