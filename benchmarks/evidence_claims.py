"""The seed papers' claims, checked on a suite's published runs with paired statistics.

    python benchmarks/evidence_claims.py --runs results/evidence/runs --out results/evidence/claims.md

Every comparison pairs seed s of one method with seed s of the other (same initialisation and
data order); Δ is the mean paired difference with its 95 % t CI, p the paired t-test
Holm-corrected over the comparisons of one claim on one dataset, and the Wilcoxon signed-rank p
(uncorrected). A claim "holds" on a dataset only where its comparisons are significant after
Holm in the claimed direction.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# claim -> (description, [(method, against, metric, wanted sign)])
CLAIMS: dict[str, tuple[str, list[tuple[str, str, str, int]]]] = {
    "a": (
        "KD students beat scratch students (Distilling Spikes; Hinton KD; KDSNN; Louis et al.'s KD-MSE)",
        [
            (m, "scratch", "test_accuracy", +1)
            for m in (
                "kd",
                "kd-per-step",
                "kd-mse",
                "feature-kd",
                "kd-spikes",
                "kd-spike-train",
                "multistage",
            )
        ],
    ),  # fmt: skip
    "b": (
        "the multi-stage chain (teacher -> assistant -> student) beats single-stage KD (Distilling Spikes)",
        [("multistage", "kd", "test_accuracy", +1)],
    ),
    "c": (
        "activation and logits regularisation cut spikes at equal accuracy (Louis et al., ICANN 2024)",
        [
            ("act-reg", "scratch", "spikes_per_sample", -1),
            ("logit-reg", "scratch", "spikes_per_sample", -1),
            ("act-reg", "scratch", "test_accuracy", 0),
            ("logit-reg", "scratch", "test_accuracy", 0),
        ],
    ),  # fmt: skip
    "d": (
        "per-time-step KD beats time-averaged KD (the per-step family, 2023-2025)",
        [("kd-per-step", "kd", "test_accuracy", +1), ("kd-per-step", "scratch", "test_accuracy", +1)],
    ),
    "e": (
        "membrane distillation recovers what quantization loses, 4 bits (MD-SNN)",
        [("md-snn", "quant", "test_accuracy", +1), ("quant", "scratch", "test_accuracy", -1)],
    ),
}


def load(root: Path) -> dict[tuple[str, str], dict[int, dict]]:
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted(root.glob("*/*/seed*/metrics.json")):
        d, m, s = path.parts[-4], path.parts[-3], int(path.parts[-2].removeprefix("seed"))
        out.setdefault((d, m), {})[s] = json.loads(path.read_text())
    return out


def _p(p: float) -> str:
    return "–" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def render(runs: dict[tuple[str, str], dict[int, dict]]) -> str:
    from snnkd import stats as S

    datasets = sorted({d for d, _ in runs})
    method_text = " ".join(__doc__.split("\n\n")[2].split())
    lines = ["# The seed papers' claims, paired by seed", "", method_text, ""]
    for key, (text, comparisons) in CLAIMS.items():
        lines += [f"## ({key}) {text}", ""]
        lines += [
            "| dataset | comparison | metric | seeds | Δ [95% CI] | p (Holm) | p (Wilcoxon) | as claimed? |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for dataset in datasets:
            rows = []
            for method, against, metric, sign in comparisons:
                a, b = runs.get((dataset, method)), runs.get((dataset, against))
                if not a or not b:
                    continue
                seeds = sorted(set(a) & set(b))
                xa = [a[s][metric] for s in seeds]
                xb = [b[s][metric] for s in seeds]
                c = S.paired(xa, xb)
                relative = 100.0 / float(np.mean(xb))  # spikes: in % of the reference's mean
                scale, unit = (100.0, "pp") if metric == "test_accuracy" else (relative, "%")
                rows.append((method, against, metric, sign, len(seeds), c, scale, unit))
            holm = S.holm([r[5].p_t for r in rows])
            for (method, against, metric, sign, n, c, scale, unit), p in zip(rows, holm, strict=True):
                sig = bool(np.isfinite(p) and p < S.ALPHA)
                if sign == 0:  # "at equal accuracy": a significant gain costs nothing, a loss does
                    if not sig:
                        verdict = "yes (no significant change)"
                    else:
                        verdict = "yes (higher: no cost)" if c.diff > 0 else "no (accuracy lower)"
                else:
                    agrees = np.sign(c.diff) == sign
                    verdict = "yes" if sig and agrees else ("opposite" if sig else "no (noise)")
                metric_name = "accuracy" if metric == "test_accuracy" else "spikes/sample"
                lines.append(
                    f"| {dataset} | {method} − {against} | {metric_name} | {n} "
                    f"| {scale * c.diff:+.2f} {unit} [{scale * c.low:+.2f}, {scale * c.high:+.2f}] "
                    f"| {_p(p)} | {_p(c.p_wilcoxon)} | {verdict} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("results/evidence/runs"))
    p.add_argument("--out", type=Path, default=Path("results/evidence/claims.md"))
    args = p.parse_args()
    if not args.runs.is_dir():
        print(f"evidence_claims: error: --runs: no folder {args.runs}", file=sys.stderr)
        return 2
    text = render(load(args.runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
