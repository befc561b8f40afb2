"""Evidence for MD-SNN's claim: membrane distillation recovers what quantization loses.

Per dataset and seed, every run through the public API (:func:`snnkd.config.validate`,
:func:`snnkd.run.prepare`, :func:`snnkd.train.fit`) at default hyper-parameters
(md-snn: tau = 4, alpha = 0.5, beta = 1), nothing tuned, trained to a plateau
(``train.patience`` on validation accuracy, at most ``--epochs``):

* ``scratch (FP)`` at T = 4: the full-precision student; it is also md-snn's teacher;
* ``quant`` and ``md-snn`` at T = 4, weights and membrane at each of ``--bits``, under each
  quantization scheme of ``--schemes`` (``lsq``: per-channel LSQ steps, membrane quantized
  before firing; ``mint``: MINT's per-layer step shared by weights and membrane, membrane
  quantized after leak and reset);
* the **T_k = 4 -> T_s = 2 variant** (``--student-steps 2``): ``scratch (FP)``, ``quant`` and
  ``md-snn`` students at T = 2, md-snn's teacher being the T = 4 full-precision student
  (MD-SNN's "versatile teacher"; membranes averaged into the student's steps).

Statistics (:mod:`snnkd.stats`, SciPy and statsmodels): per configuration the mean test
accuracy with its 95 % t CI over seeds; paired differences over seeds (seed s gives both
methods the same initialisation and data order) with their 95 % CI, the paired t-test, and
Holm's correction over each dataset's family of comparisons (md-snn − quant: every scheme,
bit width and T; mint − lsq: every method, bit width and T).

Writes ``<out>/quant.csv`` (one row per run) and ``<out>/quant.md``. Runs go to ``--runs``
(reused when their ``metrics.json`` matches the configuration, so the script resumes).

    python benchmarks/quant_evidence.py [--datasets digits mnist-5k] [--seeds 5]
        [--epochs 60] [--patience 8] [--bits 2 4] [--schemes lsq mint]
        [--student-steps 2] [--variant-datasets digits] [--workers 2] [--out results]
        [--runs runs/quant_evidence] [--keep-rows results/quant.csv]

``--only-finished`` trains nothing and writes the tables of the configurations whose every seed
has finished.
``--keep-rows`` keeps the rows of the other datasets from an earlier ``quant.csv`` (its runs need
not be on this machine), so one dataset can be added without re-training the others.

A quick check: ``--datasets digits --seeds 1 --epochs 1 --patience 0 --out /tmp/q``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FP = "scratch (FP)"
TEACHER_T = 4
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


def finished_metrics(job: dict[str, Any]) -> dict[str, Any] | None:
    """The metrics of the job's run when it finished with the job's configuration, else None."""
    from snnkd import run_files
    from snnkd.config import validate

    out = Path(job["out"])
    metrics_path, record = out / run_files.METRICS_FILE, out / run_files.RUN_FILE
    if not (metrics_path.exists() and record.exists()):
        return None  # the identity lives in run.json, the numbers in metrics.json
    if json.loads(record.read_text()).get("identity") != validate(job["config"]).identity():
        return None
    return json.loads(metrics_path.read_text())


def whole_configurations(job_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs of the configurations whose every seed has finished (no partial seed sets)."""

    def config_of(job: dict[str, Any]) -> tuple:
        return tuple(job[k] for k in KEYS if k != "seed")

    unfinished = {config_of(j) for j in job_list if finished_metrics(j) is None}
    return [j for j in job_list if config_of(j) not in unfinished]


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration (or read its finished metrics) and return a flat row."""
    import torch

    from snnkd.config import validate
    from snnkd.evaluate import write_metrics
    from snnkd.run import prepare
    from snnkd.train import fit

    torch.set_num_threads(1)
    out = Path(job["out"])
    metrics = finished_metrics(job)
    if metrics is None:
        run = prepare(validate(job["config"]))
        out.mkdir(parents=True, exist_ok=True)
        metrics = fit(run, out, show_progress=False)
        write_metrics(out, metrics)
    row = {k: job[k] for k in KEYS}
    row.update({k: metrics.get(k) for k in FIELDS if k != "epochs_trained"})
    row["epochs_trained"] = metrics.get("epochs")
    return row


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``quant.csv`` written by :func:`main`, with their numbers typed again."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={"dataset": str, "method": str, "scheme": str})
    frame = frame.astype({k: int for k in ("bits", "T", "seed", "epochs_trained")})
    frame = frame.astype(object).where(frame.notna(), None)  # an empty cell reads as None
    return frame.to_dict("records")


def base_config(args: argparse.Namespace, dataset: str, seed: int, steps: int) -> dict[str, Any]:
    train: dict[str, Any] = {"epochs": args.epochs, "batch_size": 64, "lr": 0.002, "optimizer": "adam"}
    if args.patience:
        train["patience"] = args.patience
    return {
        "dataset": dataset,
        "model": "student",
        "device": "cpu",
        "T": steps,
        "encoder": "direct",
        "seed": seed,
        "train": train,
    }


def _job(args, dataset: str, method: str, scheme: str, bits: int, steps: int, seed: int, **extra) -> dict:
    name = "scratch" if method == FP else method
    cfg = {**base_config(args, dataset, seed, steps), "method": name, **extra}
    out = Path(args.runs) / dataset / name / scheme / f"b{bits}/T{steps}/seed{seed}"
    keys = {"dataset": dataset, "method": method, "scheme": scheme, "bits": bits, "T": steps, "seed": seed}
    return {**keys, "out": str(out), "config": cfg}


def steps_of(args: argparse.Namespace, dataset: str) -> list[int]:
    """The student time steps run on ``dataset``: the teacher's T, then the variant's where asked."""
    variant = args.variant_datasets is None or dataset in args.variant_datasets
    return [TEACHER_T, *[t for t in args.student_steps if t != TEACHER_T and variant]]


def jobs(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """The full-precision runs (teachers among them) and the quantized runs that need them.

    Ordered dataset by dataset, the teacher's T before the variant's, then bit width by bit
    width (in ``--bits`` order), scheme by scheme, and every seed of a configuration together,
    so that an interrupted run has finished whole configurations, with all their seeds, first."""
    fp, quantized = [], []
    seeds = range(args.seeds)

    def teacher(dataset: str, seed: int) -> str:  # the seed's full-precision student at T = 4
        return str(Path(_job(args, dataset, FP, "fp", 32, TEACHER_T, seed)["out"]) / "checkpoint.pt")

    for dataset in args.datasets:
        for steps in steps_of(args, dataset):
            fp += [_job(args, dataset, FP, "fp", 32, steps, seed) for seed in seeds]
            for bits in args.bits:
                for scheme in args.schemes:
                    q = {"weight_bits": bits, "membrane_bits": bits, "scheme": scheme}
                    cell = (scheme, bits, steps)
                    quantized += [_job(args, dataset, "quant", *cell, s, quant=q) for s in seeds]
                    quantized += [
                        _job(args, dataset, "md-snn", *cell, s, quant=q, teacher=teacher(dataset, s))
                        for s in seeds
                    ]
    return fp, quantized


# --- statistics and the report ------------------------------------------------------------------


def _by_seed(rows: list[dict], **match: Any) -> dict[int, float]:
    return {
        r["seed"]: 100 * r["test_accuracy"]
        for r in rows
        if all(r[k] == v for k, v in match.items()) and r["test_accuracy"] is not None
    }


def _mean(rows: list[dict], **match: Any) -> float:
    from snnkd.stats import mean_ci

    return mean_ci(list(_by_seed(rows, **match).values())).mean


def _pair(rows: list[dict], a: dict, b: dict):
    """Paired comparison ``a - b`` (accuracy, pp) over the seeds both have."""
    from snnkd.stats import paired

    xa, xb = _by_seed(rows, **a), _by_seed(rows, **b)
    seeds = sorted(set(xa) & set(xb))
    return paired([xa[s] for s in seeds], [xb[s] for s in seeds])


def _fmt(x: float, digits: int = 2, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _ci(low: float, high: float, sign: bool = True) -> str:
    return f"[{_fmt(low, sign=sign)}, {_fmt(high, sign=sign)}]" if math.isfinite(low) else "–"


def _diff(test) -> str:
    """A paired difference with its CI, or "–" where there is nothing to compare."""
    return f"{_fmt(test.diff, sign=True)} {_ci(test.low, test.high)}" if test.n else "–"


def _p(p: float) -> str:
    return "–" if p is None or not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def config_table(rows: list[dict], dataset: str) -> list[str]:
    from snnkd.stats import mean_ci

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["dataset"] == dataset:
            groups.setdefault((r["T"], r["method"] != FP, r["scheme"], r["bits"], r["method"]), []).append(r)
    lines = [
        "| T | method | scheme | bits | seeds | test accuracy (%) [95 % CI] | epochs trained "
        "| model size (kbit) | spikes/sample | SpikeSim energy (nJ) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (-k[0], k[1], k[2], k[3], k[4])):
        g = groups[key]
        acc = mean_ci([100 * r["test_accuracy"] for r in g])

        def mean(field: str, scale: float = 1.0, g=g) -> float:
            v = [r[field] * scale for r in g if r[field] is not None]
            return sum(v) / len(v) if v else math.nan

        lines.append(
            f"| {key[0]} | {key[4]} | {key[2]} | {key[3]} | {acc.n} "
            f"| {_fmt(acc.mean)} {_ci(acc.low, acc.high, sign=False)} | {_fmt(mean('epochs_trained'), 1)} "
            f"| {_fmt(mean('model_size_bits', 1e-3), 1)} "
            f"| {_fmt(mean('spikes_per_sample'), 0)} | {_fmt(mean('spikesim_energy_pj', 1e-3), 1)} |"
        )
    return lines


def recovery_table(rows: list[dict], dataset: str, schemes, bits_list, steps_list) -> list[str]:
    """md-snn − quant per (T, scheme, bits), Holm over the dataset's family, with a verdict."""
    from snnkd.stats import holm

    cells = [(t, s, b) for t in steps_list for s in schemes for b in bits_list]
    tests = [
        _pair(rows, dict(dataset=dataset, method="md-snn", scheme=s, bits=b, T=t),
              dict(dataset=dataset, method="quant", scheme=s, bits=b, T=t))
        for t, s, b in cells
    ]  # fmt: skip
    adjusted = holm([t.p_t for t in tests])
    lines = [
        "| T_s (teacher T = 4) | scheme | bits | FP at T_s (%) | quant (%) | md-snn (%) "
        "| md-snn − quant (pp) [95 % CI] | p (paired t) | p (Holm) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (t, s, b), test, p_holm in zip(cells, tests, adjusted, strict=True):
        fp = _mean(rows, dataset=dataset, method=FP, T=t)
        q = _mean(rows, dataset=dataset, method="quant", scheme=s, bits=b, T=t)
        m = _mean(rows, dataset=dataset, method="md-snn", scheme=s, bits=b, T=t)
        lines.append(
            f"| {t} | {s} | {b} | {_fmt(fp)} | {_fmt(q)} | {_fmt(m)} | {_diff(test)} | {_p(test.p_t)} "
            f"| {_p(p_holm)} | {verdict(fp - q, test, p_holm)} |"
        )
    return lines


def verdict(lost: float, test, p_holm: float) -> str:
    if test.n == 0:
        return "not run"
    if not math.isfinite(p_holm):
        return "too few seeds to test"
    significant = p_holm < 0.05
    if significant and test.diff < 0:
        return f"md-snn is worse by {-test.diff:.2f} pp"
    if lost <= 0:
        return "quantization lost nothing here: nothing to recover" + (
            f"; md-snn still adds {test.diff:.2f} pp" if significant else ""
        )
    if significant:
        return f"recovers {100 * test.diff / lost:.0f} % of the {lost:.2f} pp lost"
    return f"quant lost {lost:.2f} pp; no recovery distinguishable from noise"


def scheme_table(rows: list[dict], dataset: str, bits_list, steps_list) -> list[str]:
    """mint − lsq per (T, method, bits), Holm over the dataset's family."""
    from snnkd.stats import holm

    cells = [(t, m, b) for t in steps_list for m in ("quant", "md-snn") for b in bits_list]
    tests = [
        _pair(rows, dict(dataset=dataset, method=m, scheme="mint", bits=b, T=t),
              dict(dataset=dataset, method=m, scheme="lsq", bits=b, T=t))
        for t, m, b in cells
    ]  # fmt: skip
    adjusted = holm([t.p_t for t in tests])
    lines = [
        "| T | method | bits | mint − lsq (pp) [95 % CI] | p (paired t) | p (Holm) |",
        "|---|---|---|---|---|---|",
    ]
    for (t, m, b), test, p in zip(cells, tests, adjusted, strict=True):
        lines.append(f"| {t} | {m} | {b} | {_diff(test)} | {_p(test.p_t)} | {_p(p)} |")
    return lines


def summarise(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    budget = f"at most {args.epochs} epochs" + (
        f", early stopping with patience {args.patience} on validation accuracy (best weights kept)"
        if args.patience
        else " (no early stopping)"
    )
    lines = [
        "# Quantized students and MD-SNN: does membrane distillation recover what quantization loses?",
        "",
        f"`benchmarks/quant_evidence.py`: student preset of each dataset, direct encoding, Adam (lr 0.002), "
        f"batch 64, {budget}; {args.seeds} seeds; default hyper-parameters (md-snn: τ = 4, α = 0.5, β = 1), "
        "nothing tuned. Weights and membrane at the same bit width b. Schemes: `lsq` (per-channel LSQ "
        "weight steps, membrane quantized on [-2, 2) before firing) and `mint` (one step per layer shared "
        "by weights and membrane, tanh and clamp, membrane quantized after leak and reset). md-snn's teacher "
        f"is the seed's full-precision student at T = {TEACHER_T}; at T_s < {TEACHER_T} its membranes are "
        "averaged into the student's steps. Paired differences over seeds with 95 % t CIs; p-values of "
        "paired t-tests, Holm-corrected over each table of a dataset (`snnkd.stats`). Per-run rows: "
        "`quant.csv`.",
    ]
    for dataset in args.datasets:
        steps_list = steps_of(args, dataset)
        lines += ["", f"## {dataset}", "", *config_table(rows, dataset)]
        recovery = recovery_table(rows, dataset, args.schemes, args.bits, steps_list)
        lines += ["", "### md-snn − quant", "", *recovery]
        if {"lsq", "mint"} <= set(args.schemes):
            lines += ["", "### mint − lsq", "", *scheme_table(rows, dataset, args.bits, steps_list)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist-5k"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=60, help="maximum epochs of every run")
    ap.add_argument("--patience", type=int, default=8, help="early-stopping patience; 0: none")
    ap.add_argument("--bits", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--schemes", nargs="+", choices=["lsq", "mint"], default=["lsq", "mint"])
    ap.add_argument(
        "--student-steps", type=int, nargs="*", default=[2], help="student T of the teacher-at-T=4 variant"
    )
    ap.add_argument(
        "--variant-datasets", nargs="*", default=None, help="datasets of the T-variant (default: every one)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results"), help="folder of quant.csv and quant.md")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "quant_evidence"))
    ap.add_argument(
        "--only-finished",
        action="store_true",
        help="train nothing: tables of the runs already finished (a configuration missing is 'not run')",
    )
    ap.add_argument(
        "--keep-rows", type=Path, default=None, help="earlier quant.csv whose other datasets' rows are kept"
    )
    args = ap.parse_args(argv)
    import sys

    from snnkd.config import validate
    from snnkd.errors import ConfigError

    try:  # a one-line error before any work (mnist-5k must be registered)
        for dataset in args.datasets:
            validate({"dataset": dataset})
    except ConfigError as err:
        print(f"quant_evidence: error: --datasets: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    kept: list[dict[str, Any]] = []
    if args.keep_rows is not None:
        if not args.keep_rows.is_file():
            print(f"quant_evidence: error: --keep-rows: no such file: {args.keep_rows}", file=sys.stderr)
            raise SystemExit(2)
        kept = [r for r in read_rows(args.keep_rows) if r["dataset"] not in args.datasets]
    fp, quantized = jobs(args)
    if args.only_finished:
        fp, quantized = whole_configurations(fp), whole_configurations(quantized)
    with ProcessPoolExecutor(args.workers) as pool:
        rows = kept + list(pool.map(run_one, fp))
        rows += list(pool.map(run_one, quantized))
    args.datasets = list(dict.fromkeys([*(r["dataset"] for r in kept), *args.datasets]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "quant.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*KEYS, *FIELDS])
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows, args)
    (out / "quant.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
