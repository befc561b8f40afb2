"""The quantization evidence: does membrane distillation recover what quantization loses? (MD-SNN)

Read from a suite's runs of ``scratch`` (the full-precision student, "FP"), ``quant`` and
``md-snn`` (Lee et al., "MD-SNN: Membrane potential-aware distillation on quantized spiking neural
networks", DATE 2026), each run's configuration taken from its ``run.json``: the time steps ``T``,
the quantization scheme (``quant.scheme``: ``lsq`` or ``mint``) and the bit width ``b`` (the
network's ``weight_bits`` in ``metrics.json``; weights and membrane share it). Runs of other
methods are left out. Statistics (:mod:`snnkd.results.stats`, SciPy and statsmodels):

* per configuration ``(T, method, scheme, b)``: the mean test accuracy over seeds with its 95 % t CI,
  ``x̄ ± t_{0.975, n−1} s / √n``;
* paired differences over seeds (seed ``s`` gives both the same initialisation and data order),
  ``Δ = mean_s(x_s^a − x_s^b)`` with its 95 % t CI and the paired t-test (``scipy.stats.ttest_rel``):
  md-snn − quant per ``(T, scheme, b)`` and mint − lsq per ``(T, method, b)``, each family of a
  dataset Holm-corrected (Holm 1979).

Writes ``quant.csv`` (one row per run) and ``quant.md``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from snnkd.results import stats as S
from snnkd.verdicts.runs import Runs

FP = "scratch (FP)"
FP_METHOD = "scratch"
QUANTIZED = ("quant", "md-snn")
FIELDS = (
    "test_accuracy",
    "val_accuracy",
    "epochs_trained",
    "model_size_bits",
    "spikes_per_sample",
    "energy_pj",
    "spikesim_energy_pj",
    "edap_ratio",
)
KEYS = ("dataset", "method", "scheme", "bits", "T", "seed")
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
Row = dict[str, Any]


def _config(record: dict[str, Any]) -> dict[str, Any]:
    return (record.get("run") or {}).get("config") or {}


def rows(runs: Runs) -> list[Row]:
    """One flat row per run of ``scratch``, ``quant`` or ``md-snn`` (records with their ``run.json``)."""
    out = []
    for (dataset, _name), seeds in sorted(runs.items()):
        for seed, record in sorted(seeds.items()):
            cfg = _config(record)
            method = cfg.get("method")
            if method != FP_METHOD and method not in QUANTIZED:
                continue
            fp = method == FP_METHOD
            row: Row = {
                "dataset": dataset,
                "method": FP if fp else method,
                "scheme": "fp" if fp else (cfg.get("quant") or {}).get("scheme", "lsq"),
                "bits": int(record.get("weight_bits", 32)),
                "T": int(cfg.get("T", 0)),
                "seed": seed,
            }
            row.update({k: record.get(k) for k in FIELDS if k != "epochs_trained"})
            row["epochs_trained"] = record.get("epochs")
            out.append(row)
    return out


def to_csv(table: list[Row]) -> str:
    """``quant.csv``: :data:`KEYS` then :data:`FIELDS`, one row per run (an absent value is empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*KEYS, *FIELDS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def read_rows(path: Path) -> list[Row]:
    """The rows of a ``quant.csv`` with their numbers typed again (an empty cell reads as None)."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={"dataset": str, "method": str, "scheme": str})
    frame = frame.astype({k: int for k in ("bits", "T", "seed", "epochs_trained")})
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


# --- statistics ----------------------------------------------------------------------------------


def _by_seed(table: list[Row], **match: Any) -> dict[int, float]:
    return {
        r["seed"]: 100 * r["test_accuracy"]
        for r in table
        if all(r[k] == v for k, v in match.items()) and r["test_accuracy"] is not None
    }


def _mean(table: list[Row], **match: Any) -> float:
    return S.mean_ci(list(_by_seed(table, **match).values())).mean


def _pair(table: list[Row], a: dict[str, Any], b: dict[str, Any]) -> S.Paired:
    """Paired comparison ``a − b`` (accuracy, pp) over the seeds both have."""
    xa, xb = _by_seed(table, **a), _by_seed(table, **b)
    seeds = sorted(set(xa) & set(xb))
    return S.paired([xa[s] for s in seeds], [xb[s] for s in seeds])


def _fmt(x: float | None, digits: int = 2, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _ci(low: float, high: float, sign: bool = True) -> str:
    return f"[{_fmt(low, sign=sign)}, {_fmt(high, sign=sign)}]" if math.isfinite(low) else "–"


def _diff(test: S.Paired) -> str:
    return f"{_fmt(test.diff, sign=True)} {_ci(test.low, test.high)}" if test.n else "–"


def _p(p: float | None) -> str:
    return "–" if p is None or not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def verdict(lost: float, test: S.Paired, p_holm: float) -> str:
    """md-snn − quant read against what quantization lost (``lost``: FP − quant, pp)."""
    if test.n == 0:
        return "not run"
    if not math.isfinite(p_holm):
        return "too few seeds to test"
    significant = p_holm < S.ALPHA
    if significant and test.diff < 0:
        return f"md-snn is worse by {-test.diff:.2f} pp"
    if lost <= 0:
        return "quantization lost nothing here: nothing to recover" + (
            f"; md-snn still adds {test.diff:.2f} pp" if significant else ""
        )
    if significant:
        return f"recovers {100 * test.diff / lost:.0f} % of the {lost:.2f} pp lost"
    return f"quant lost {lost:.2f} pp; no recovery distinguishable from noise"


# --- tables --------------------------------------------------------------------------------------


def config_table(table: list[Row], dataset: str) -> list[str]:
    """Per configuration: seeds, mean test accuracy [95 % CI], epochs, size, spikes, SpikeSim energy."""
    groups: dict[tuple, list[Row]] = {}
    for r in table:
        if r["dataset"] == dataset:
            groups.setdefault((r["T"], r["method"] != FP, r["scheme"], r["bits"], r["method"]), []).append(r)
    lines = [
        "| T | method | scheme | bits | seeds | test accuracy (%) [95 % CI] | epochs trained "
        "| model size (kbit) | spikes/sample | SpikeSim energy (nJ) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (-k[0], k[1], k[2], k[3], k[4])):
        g = groups[key]
        acc = S.mean_ci([100 * r["test_accuracy"] for r in g])

        def mean(field: str, scale: float = 1.0, g: list[Row] = g) -> float:
            v = [r[field] * scale for r in g if r[field] is not None]
            return sum(v) / len(v) if v else math.nan

        lines.append(
            f"| {key[0]} | {key[4]} | {key[2]} | {key[3]} | {acc.n} "
            f"| {_fmt(acc.mean)} {_ci(acc.low, acc.high, sign=False)} | {_fmt(mean('epochs_trained'), 1)} "
            f"| {_fmt(mean('model_size_bits', 1e-3), 1)} "
            f"| {_fmt(mean('spikes_per_sample'), 0)} | {_fmt(mean('spikesim_energy_pj', 1e-3), 1)} |"
        )
    return lines


def recovery_table(
    table: list[Row],
    dataset: str,
    schemes: list[str],
    bits_list: list[int],
    steps_list: list[int],
    teacher_t: str,
) -> list[str]:
    """md-snn − quant per ``(T, scheme, bits)``, Holm over the dataset's family, with a verdict."""
    cells = [(t, s, b) for t in steps_list for s in schemes for b in bits_list]
    tests = [
        _pair(table, dict(dataset=dataset, method="md-snn", scheme=s, bits=b, T=t),
              dict(dataset=dataset, method="quant", scheme=s, bits=b, T=t))
        for t, s, b in cells
    ]  # fmt: skip
    adjusted = S.holm([t.p_t for t in tests])
    lines = [
        f"| T_s (teacher T = {teacher_t}) | scheme | bits | FP at T_s (%) | quant (%) | md-snn (%) "
        "| md-snn − quant (pp) [95 % CI] | p (paired t) | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (t, s, b), test, p_holm in zip(cells, tests, adjusted, strict=True):
        fp = _mean(table, dataset=dataset, method=FP, T=t)
        q = _mean(table, dataset=dataset, method="quant", scheme=s, bits=b, T=t)
        m = _mean(table, dataset=dataset, method="md-snn", scheme=s, bits=b, T=t)
        lines.append(
            f"| {t} | {s} | {b} | {_fmt(fp)} | {_fmt(q)} | {_fmt(m)} | {_diff(test)} | {_p(test.p_t)} "
            f"| {_p(p_holm)} | {verdict(fp - q, test, p_holm)} |"
        )
    return lines


def scheme_table(table: list[Row], dataset: str, bits_list: list[int], steps_list: list[int]) -> list[str]:
    """mint − lsq per ``(T, method, bits)``, Holm over the dataset's family."""
    cells = [(t, m, b) for t in steps_list for m in QUANTIZED for b in bits_list]
    tests = [
        _pair(table, dict(dataset=dataset, method=m, scheme="mint", bits=b, T=t),
              dict(dataset=dataset, method=m, scheme="lsq", bits=b, T=t))
        for t, m, b in cells
    ]  # fmt: skip
    adjusted = S.holm([t.p_t for t in tests])
    lines = [
        "| T | method | bits | mint − lsq (pp) [95 % CI] | p (paired t) | p (Holm) |",
        "|---|---|---|---|---|---|",
    ]
    for (t, m, b), test, p in zip(cells, tests, adjusted, strict=True):
        lines.append(f"| {t} | {m} | {b} | {_diff(test)} | {_p(test.p_t)} | {_p(p)} |")
    return lines


def setting(pairs: Iterable[tuple[str, Any]]) -> str:
    """A setting of the runs as text, from ``(dataset, value)`` pairs: the value when every run has
    it, else one value per dataset (``0.002 (digits), 0.004 (mnist-5k)``), else ``per run``."""
    pairs = [(d, v) for d, v in pairs if v is not None]
    values = {str(v) for _, v in pairs}
    if len(values) <= 1:
        return next(iter(values), "–")
    by_dataset: dict[str, set[str]] = {}
    for d, v in pairs:
        by_dataset.setdefault(d, set()).add(str(v))
    if all(len(v) == 1 for v in by_dataset.values()):
        return ", ".join(f"{next(iter(v))} ({d})" for d, v in sorted(by_dataset.items()))
    return "per run (run.json)"


def teacher_steps(runs: Runs) -> dict[str, str]:
    """Per dataset, the ``T`` of md-snn's teachers (the runs whose checkpoints they name), as text.

    A teacher checkpoint ``.../<dataset>/<name>/seed<k>.pt`` is the run ``<dataset>/<name>/seed<k>``
    of the same results folder; one that is not there reads as ``?``."""
    found: dict[str, set[str]] = {}
    for (dataset, _), seeds in runs.items():
        for record in seeds.values():
            teacher = (record.get("run") or {}).get("teacher") or {}
            if _config(record).get("method") != "md-snn" or not teacher.get("path"):
                continue
            path = Path(teacher["path"])
            source = runs.get((path.parent.parent.name, path.parent.name), {})
            seed = path.stem.removeprefix("seed")
            t = _config(source[int(seed)]).get("T") if seed.isdigit() and int(seed) in source else None
            found.setdefault(dataset, set()).add("?" if t is None else str(t))
    return {d: next(iter(ts)) if len(ts) == 1 else "per run" for d, ts in found.items()}


def tables(table: list[Row], teacher_t: dict[str, str] | None = None) -> str:
    """Every dataset's tables: configurations, md-snn − quant and (both schemes run) mint − lsq."""
    quantized = [r for r in table if r["method"] != FP]
    schemes = sorted({r["scheme"] for r in quantized})
    bits_list = sorted({r["bits"] for r in quantized})
    lines: list[str] = []
    for dataset in sorted({r["dataset"] for r in table}):
        steps_list = sorted({r["T"] for r in table if r["dataset"] == dataset}, reverse=True)
        teacher = (teacher_t or {}).get(dataset, "?")
        lines += ["", f"## {dataset}", "", *config_table(table, dataset)]
        recovery = recovery_table(table, dataset, schemes, bits_list, steps_list, teacher)
        lines += ["", "### md-snn − quant", "", *recovery]
        if {"lsq", "mint"} <= set(schemes):
            lines += ["", "### mint − lsq", "", *scheme_table(table, dataset, bits_list, steps_list)]
    return "\n".join(lines) + "\n"


def method_text(runs: Runs, results: str, teacher_t: dict[str, str]) -> str:
    """The paragraph above the tables: the runs' settings, read from their ``run.json``."""
    configs = [
        (dataset, _config(r))
        for (dataset, _), seeds in sorted(runs.items())
        for r in seeds.values()
        if _config(r).get("method") == FP_METHOD or _config(r).get("method") in QUANTIZED
    ]

    def train(key: str) -> str:
        return setting((d, (c.get("train") or {}).get(key)) for d, c in configs)

    def md(key: str) -> str:
        return setting(
            (d, (c.get("hparams") or {}).get(key)) for d, c in configs if c.get("method") == "md-snn"
        )

    stopping = any((c.get("train") or {}).get("patience") for _, c in configs)
    budget = f"at most {train('epochs')} epochs" + (
        f", early stopping with patience {train('patience')} on validation accuracy (best weights kept)"
        if stopping
        else " (no early stopping)"
    )
    optimizer = setting(
        (d, OPTIMIZERS.get(o, o)) for d, c in configs if (o := (c.get("train") or {}).get("optimizer"))
    )
    seeds = len({s for seeds in runs.values() for s in seeds})
    return (
        f"`snnkd quant-evidence` on `{results}`: {setting((d, c.get('model')) for d, c in configs)} preset "
        f"of each dataset, {setting((d, c.get('encoder')) for d, c in configs)} encoding, {optimizer} "
        f"(lr {train('lr')}), batch {train('batch_size')}, {budget}; {seeds} seeds; md-snn at "
        f"τ = {md('tau')}, α = {md('alpha')}, β = {md('beta')}. Weights and membrane at the same bit "
        "width b. Schemes: `lsq` (per-channel LSQ weight steps, membrane quantized on [-2, 2) before "
        "firing) and `mint` (one step per layer shared by weights and membrane, tanh and clamp, membrane "
        "quantized after leak and reset). md-snn's teacher is the seed's full-precision student at "
        f"T = {setting(teacher_t.items())}; at a smaller student T its membranes are averaged into the "
        "student's steps. Paired differences over seeds with 95 % t CIs; p-values of paired t-tests, "
        "Holm-corrected over each table of a dataset (`snnkd.results.stats`). Per-run rows: `quant.csv`."
    )


def render(runs: Runs, results: str) -> tuple[str, str]:
    """``(quant.csv, quant.md)`` of a suite's runs (records with their ``run.json``)."""
    table = rows(runs)
    teacher_t = teacher_steps(runs)
    title = "# Quantized students and MD-SNN: does membrane distillation recover what quantization loses?"
    md = f"{title}\n\n{method_text(runs, results, teacher_t)}\n{tables(table, teacher_t)}"
    return to_csv(table), md
