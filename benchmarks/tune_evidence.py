"""Tuned against default hyper-parameters, several seeds each (the evidence of ``docs/tuning.md``).

Reads the tuned settings that ``snnkd tune`` wrote to ``results/tuned/<dataset>/<method>.yaml``,
trains every method with its plugin defaults and with the tuned values for each seed (same
budget, same student, same teacher), and writes the per-run numbers and a Markdown table:

    python benchmarks/tune_evidence.py --dataset digits --methods kd act-reg logit-reg \
        "kd + logit-reg" --seeds 0 1 2 3 4 --epochs 10 \
        --teacher runs/digits/teacher/scratch/seed0/checkpoint.pt

This is where the test split is used: once per final run, never by the studies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


def train(dataset: str, method: str, hparams: dict[str, Any], seed: int, epochs: int, teacher: str | None):
    """Test metrics of one run (the same path as ``snnkd train``)."""
    from snnkd.config import validate
    from snnkd.methods import get_method
    from snnkd.train import fit, prepare

    data: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "hparams": hparams,
        "seed": seed,
        "train": {"epochs": epochs},
        "device": "cpu",
    }
    if get_method(method).teacher != "none":
        data["teacher"] = teacher
    run = prepare(validate(data))
    with tempfile.TemporaryDirectory() as tmp:
        m = fit(run, Path(tmp), show_progress=False)
    keys = ("test_accuracy", "val_accuracy", "spikes_per_sample", "firing_rate", "energy_pj")
    return {k: float(m[k]) for k in keys}


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean paired difference b - a and the two-sided paired t-test p-value."""
    from scipy import stats

    d = [y - x for x, y in zip(a, b, strict=True)]
    p = float(stats.ttest_rel(b, a).pvalue) if len(d) > 1 and statistics.pstdev(d) > 0 else float("nan")
    return statistics.fmean(d), p


def table(rows: list[dict[str, Any]], methods: list[str]) -> str:
    def ms(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
        v = [scale * x for x in values]
        return f"{statistics.fmean(v):{fmt}} ± {statistics.stdev(v) if len(v) > 1 else 0.0:{fmt}}"

    out = [
        "| method | settings | hyper-parameters | test acc. (%) | spikes/sample | energy (nJ) |",
        "|---|---|---|---|---|---|",
    ]
    deltas = [
        "| method | Δ test acc. (points) | p (paired t) | Δ spikes/sample (%) | p (paired t) |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        by = {s: [r for r in rows if r["method"] == m and r["settings"] == s] for s in ("default", "tuned")}
        for s, rs in by.items():
            hp = ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rs[0]["hparams"].items()
            )
            out.append(
                f"| {m} | {s} | {hp} | {ms([r['test_accuracy'] for r in rs], 100)} | "
                f"{ms([r['spikes_per_sample'] for r in rs], 1, '.1f')} | "
                f"{ms([r['energy_pj'] for r in rs], 1e-3, '.1f')} |"
            )
        da, pa = paired(
            [r["test_accuracy"] for r in by["default"]], [r["test_accuracy"] for r in by["tuned"]]
        )
        base = statistics.fmean(r["spikes_per_sample"] for r in by["default"])
        ds, ps = paired(
            [r["spikes_per_sample"] for r in by["default"]], [r["spikes_per_sample"] for r in by["tuned"]]
        )
        deltas.append(f"| {m} | {100 * da:+.2f} | {pa:.3g} | {100 * ds / base:+.1f} | {ps:.3g} |")
    return "\n".join(out) + "\n\n" + "\n".join(deltas) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--methods", nargs="+", default=["kd", "act-reg", "logit-reg"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--teacher", default="runs/digits/teacher/scratch/seed0/checkpoint.pt")
    p.add_argument("--results-dir", default="results")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from snnkd.tune.space import defaults
    from snnkd.tune.spec import slug

    rows = []
    for method in args.methods:
        tuned_file = Path(args.results_dir) / "tuned" / args.dataset / f"{slug(method)}.yaml"
        settings = {"default": defaults(method), "tuned": yaml.safe_load(tuned_file.read_text())["hparams"]}
        for name, hp in settings.items():
            for seed in args.seeds:
                r = train(args.dataset, method, hp, seed, args.epochs, args.teacher)
                rows.append({"method": method, "settings": name, "seed": seed, "hparams": hp, **r})
                print(
                    f"{method:16s} {name:8s} seed {seed}: test {100 * r['test_accuracy']:.2f} %, "
                    f"spikes {r['spikes_per_sample']:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
    out = Path(args.results_dir) / "tuning" / args.dataset / "tuned-vs-default.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    md = table(rows, args.methods)
    (out.with_suffix(".md")).write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
