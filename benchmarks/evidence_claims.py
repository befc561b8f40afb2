"""The seed papers' claims, checked on a suite's published runs with paired statistics.

    python benchmarks/evidence_claims.py --runs results/evidence/runs --out results/evidence/claims.md

Every comparison pairs seed s of one method with seed s of the other (same initialisation and
data order). A directional comparison (a gain, a cut) gives Δ, the mean paired difference with its
95 % t CI, and the paired t-test's p; a comparison "at equal accuracy" gives Δ with its 90 % t CI
and the paired TOST p with margin ±δ (Schuirmann's two one-sided tests, statsmodels'
ttost_paired), read as equivalent within δ (TOST rejected), non-inferior (only the lower
one-sided test rejected), worse (significantly lower) or inconclusive (the CI is wider than the
margin): no significant difference is never read as equal. p-values are Holm-corrected over the
comparisons of one claim on one dataset. A claim "holds" on a dataset only where its comparisons
agree with it after Holm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

MARGIN_PP = 0.5  # the evidence suite's accuracy margin δ (benchmarks/evidence.yaml: margin_pp default)
UNITS = ("test_accuracy", "val_accuracy", "spikes_per_sample", "synops", "energy_pj")

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


def _compare(a: dict[int, dict], b: dict[int, dict], metric: str, sign: int, delta: float):
    """Paired numbers of one comparison: seeds, the t comparison and (``sign == 0``) the TOST."""
    from snnkd import stats as S

    seeds = sorted(set(a) & set(b))
    xa, xb = [a[s][metric] for s in seeds], [b[s][metric] for s in seeds]
    return seeds, S.paired(xa, xb), (S.equivalence(xa, xb, delta) if sign == 0 else None), float(np.mean(xb))


def _verdict(sign: int, c, e, p: float, p_ni: float, p_worse: float) -> str:
    from snnkd import stats as S

    if sign == 0:
        return S.equivalence_verdict(p, p_ni, p_worse, e.diff)
    sig = bool(np.isfinite(p) and p < S.ALPHA)
    return "yes" if sig and np.sign(c.diff) == sign else ("opposite" if sig else "no (noise)")


def _claim_rows(runs, dataset: str, comparisons, delta: float) -> list[str]:
    from snnkd import stats as S

    rows = []
    for method, against, metric, sign in comparisons:
        a, b = runs.get((dataset, method)), runs.get((dataset, against))
        if a and b:
            rows.append((method, against, metric, sign, *_compare(a, b, metric, sign, delta)))
    primary = S.holm([r[6].p_tost if r[3] == 0 else r[5].p_t for r in rows])
    lower = S.holm([r[6].p_noninferior if r[3] == 0 else r[5].p_t for r in rows])
    worse = S.holm([r[6].p_worse if r[3] == 0 else r[5].p_t for r in rows])
    lines = []
    for k, (method, against, metric, sign, seeds, c, e, ref) in enumerate(rows):
        scale, unit = (100.0, "pp") if metric == "test_accuracy" else (100.0 / ref, "%")
        low, high, test = (e.low, e.high, "TOST ±δ") if e else (c.low, c.high, "paired t")
        ci = "90%" if e else "95%"
        name = "accuracy" if metric == "test_accuracy" else "spikes/sample"
        lines.append(
            f"| {dataset} | {method} − {against} | {name} "
            f"| {len(seeds)} | {scale * c.diff:+.2f} {unit} [{scale * low:+.2f}, {scale * high:+.2f}] ({ci}) "
            f"| {test} | {_p(primary[k]) + (f' (non-inferiority {_p(lower[k])})' if e else '')} "
            f"| {_verdict(sign, c, e, primary[k], lower[k], worse[k])} |"
        )
    return lines


def _frame(runs: dict[tuple[str, str], dict[int, dict]], methods: tuple[str, ...]) -> pd.DataFrame:
    rows = [
        {"dataset": d, "method": m, "seed": s, **{u: rec.get(u, np.nan) for u in UNITS}}
        for (d, m), seeds in runs.items()
        if m in methods
        for s, rec in seeds.items()
    ]
    return pd.DataFrame(rows)


def _iso_section(runs, delta_pp: float) -> list[str]:
    """Claim (c) as the papers state it: activity at iso-accuracy, in spikes, SynOps and energy."""
    from snnkd import tradeoff

    iso = tradeoff.iso_accuracy(_frame(runs, ("scratch", "act-reg", "logit-reg")), delta_pp=delta_pp)
    lines = [
        "### (c) restated: activity at iso-accuracy (spikes, SynOps, energy)",
        "",
        tradeoff.iso_legend(delta_pp) + " Holm over the claim's two methods on each dataset.",
        "",
    ]
    for dataset, view in tradeoff.iso_frames(iso).items():
        lines += [f"**{dataset}**", "", view.to_markdown(index=False, disable_numparse=True), ""]
    return lines


def _power_line(runs, delta: float) -> str:
    """The 90 % CI half-width of every paired accuracy difference with scratch the seeds give."""
    from snnkd import stats as S

    widths, seeds = [], set()
    for (d, m), a in sorted(runs.items()):
        b = runs.get((d, "scratch"))
        if m == "scratch" or not b:
            continue
        common, _, e, _ = _compare(a, b, "test_accuracy", 0, delta)
        widths.append(100 * e.half_width)
        seeds.add(len(common))
    n = ", ".join(str(k) for k in sorted(seeds))
    wilcoxon = (
        f"The Wilcoxon signed-rank test is left out: with {n} seeds its smallest two-sided p is "
        f"{S.min_wilcoxon_p(min(seeds)):.4g}, so it cannot reach 0.05."
        if not any(S.wilcoxon_can_reject(k) for k in seeds)
        else ""
    )
    return (
        f"Power: with {n} seeds, the 90 % t CI half-width of a paired accuracy difference against scratch "
        f"is {np.median(widths):.2f} pp (median; {min(widths):.2f} to {max(widths):.2f} pp over the "
        f"{len(widths)} method-dataset pairs) against a margin δ = {100 * delta:g} pp: TOST can show "
        "equivalence only where the half-width is below δ − |Δ|. " + wilcoxon
    ).strip()


def render(runs: dict[tuple[str, str], dict[int, dict]], delta_pp: float = MARGIN_PP) -> str:
    delta = delta_pp / 100.0
    datasets = sorted({d for d, _ in runs})
    method_text = " ".join(__doc__.split("\n\n")[2].split())
    lines = ["# The seed papers' claims, paired by seed", "", method_text, "", _power_line(runs, delta), ""]
    for key, (text, comparisons) in CLAIMS.items():
        lines += [f"## ({key}) {text}", ""]
        lines += [
            "| dataset | comparison | metric | seeds | Δ [CI] | test | p (Holm) | as claimed? |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for dataset in datasets:
            lines += _claim_rows(runs, dataset, comparisons, delta)
        lines.append("")
        if key == "c":
            lines += _iso_section(runs, delta_pp)
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("results/evidence/runs"))
    p.add_argument("--out", type=Path, default=Path("results/evidence/claims.md"))
    p.add_argument("--margin-pp", type=float, default=MARGIN_PP, help="accuracy margin δ in pp")
    args = p.parse_args()
    if not args.runs.is_dir():
        print(f"evidence_claims: error: --runs: no folder {args.runs}", file=sys.stderr)
        return 2
    if not args.margin_pp > 0:
        print(f"evidence_claims: error: --margin-pp: must be > 0, got {args.margin_pp}", file=sys.stderr)
        return 2
    text = render(load(args.runs), args.margin_pp)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
