"""Tuned against default hyper-parameters, paired by seed (the tuning evidence, results/tuning.md).

The default suite (``benchmarks/default.yaml``: every method tuned by the pipeline's ``tune``
stage, validation split of the first seed only) and the evidence suite
(``benchmarks/evidence.yaml``: every method at its plugin defaults) share datasets, seeds,
student, teachers' budgets and the students' plateau budgets. So for every method both run,
seed ``s`` of one is paired with seed ``s`` of the other: the tuned-minus-default difference
of test accuracy and spikes per sample with its 95 % CI, the paired t and Wilcoxon p, and
the t p Holm-corrected over the methods of a dataset (``snnkd.stats``).

    python benchmarks/tune_evidence.py --tuned results/runs --default results/evidence/runs \
        --choices results/tuned --out results/tuning.md

The test split was used once per final run by the suites; this script only reads their files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml


def _runs(root: Path) -> dict[tuple[str, str], dict[int, dict]]:
    """``(dataset, method) -> {seed: metrics.json}`` of a suite's published runs."""
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted(root.glob("*/*/seed*/metrics.json")):
        dataset, method, seed = path.parts[-4], path.parts[-3], int(path.parts[-2].removeprefix("seed"))
        out.setdefault((dataset, method), {})[seed] = json.loads(path.read_text())
    return out


def _fmt(x: float, digits: int = 2, sign: bool = True) -> str:
    if not np.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _p(p: float) -> str:
    return "–" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def compare(tuned_root: Path, default_root: Path, choices: Path | None) -> str:
    from snnkd import stats as S

    tuned, default = _runs(tuned_root), _runs(default_root)
    lines = [
        "# Tuning evidence: tuned against default hyper-parameters, paired by seed",
        "",
        "Tuned: the default suite (`benchmarks/default.yaml`), each method's hyper-parameters chosen",
        "by the pipeline's `tune` stage (Optuna TPE, the same trial budget for every method, trials",
        "trained to a plateau on the first seed's training split and scored on its validation split,",
        "median pruning). Default: the evidence suite (`benchmarks/evidence.yaml`), every method at",
        "its plugin defaults. Same datasets, seeds, student, teachers and plateau budgets, so seed s",
        "of one is paired with seed s of the other. Δ = tuned − default (test accuracy in points,",
        "spikes per sample in % of the default's mean) with its 95 % CI; p: paired t, Holm-corrected",
        "over the dataset's methods (* < 0.05), and the Wilcoxon signed-rank p.",
        "",
        f"Produced by `python benchmarks/tune_evidence.py` from `{tuned_root}` and `{default_root}`.",
    ]
    datasets = sorted({d for d, _ in tuned})
    for dataset in datasets:
        rows = []
        for (d, method), seeds in sorted(tuned.items()):
            if d != dataset or (d, method) not in default:
                continue
            common = sorted(set(seeds) & set(default[(d, method)]))
            if not common:
                continue
            acc_t = [seeds[s]["test_accuracy"] for s in common]
            acc_d = [default[(d, method)][s]["test_accuracy"] for s in common]
            spk_t = [seeds[s]["spikes_per_sample"] for s in common]
            spk_d = [default[(d, method)][s]["spikes_per_sample"] for s in common]
            chosen = "suite's own (nothing to tune)"
            if choices is not None and (choices / d / f"{method}.yaml").is_file():
                text = (choices / d / f"{method}.yaml").read_text()
                data = yaml.safe_load(text) or {}
                tuned_mark = "Not tuned" not in text
                hp = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in sorted((data.get("hparams") or {}).items()))  # fmt: skip
                chosen = hp if tuned_mark else f"{hp or '–'} (not tuned)"
            rows.append(
                dict(method=method, n=len(common), chosen=chosen, acc=S.paired(acc_t, acc_d),
                     spk=S.paired(spk_t, spk_d), acc_t=np.mean(acc_t), acc_d=np.mean(acc_d),
                     spk_d=float(np.mean(spk_d)))
            )  # fmt: skip
        if not rows:
            continue
        holm_acc = S.holm([r["acc"].p_t for r in rows])
        holm_spk = S.holm([r["spk"].p_t for r in rows])
        lines += [
            "",
            f"## {dataset}",
            "",
            "| method | seeds | tuned hyper-parameters | default acc % | tuned acc % | Δ acc pp [95% CI] "
            "| p (Holm) | p (Wilcoxon) | Δ spikes % [95% CI] | p spikes (Holm) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r, pa, ps in zip(rows, holm_acc, holm_spk, strict=True):
            a, k, scale = r["acc"], r["spk"], 100.0 / r["spk_d"] if r["spk_d"] else np.nan
            lines.append(
                f"| {r['method']} | {r['n']} | {r['chosen']} "
                f"| {100 * r['acc_d']:.2f} | {100 * r['acc_t']:.2f} "
                f"| {_fmt(100 * a.diff)} [{_fmt(100 * a.low)}, {_fmt(100 * a.high)}] "
                f"| {_p(pa)}{' *' if np.isfinite(pa) and pa < 0.05 else ''} | {_p(a.p_wilcoxon)} "
                f"| {_fmt(scale * k.diff, 1)} [{_fmt(scale * k.low, 1)}, {_fmt(scale * k.high, 1)}] "
                f"| {_p(ps)}{' *' if np.isfinite(ps) and ps < 0.05 else ''} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tuned", type=Path, default=Path("results/runs"))
    p.add_argument("--default", type=Path, default=Path("results/evidence/runs"))
    p.add_argument("--choices", type=Path, default=Path("results/tuned"))
    p.add_argument("--out", type=Path, default=Path("results/tuning.md"))
    args = p.parse_args()
    for folder in (args.tuned, args.default):
        if not folder.is_dir():
            print(f"tune_evidence: error: --tuned/--default: no folder {folder}", file=sys.stderr)
            return 2
    text = compare(args.tuned, args.default, args.choices)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
