"""The seed papers' claims checked on a suite's published runs with paired statistics (``claims.md``).

Every comparison pairs seed ``s`` of one method with seed ``s`` of the other (same initialisation
and data order), ``d_s = x_s^method − x_s^against``:

* a directional comparison (``want: gain`` or ``cut``) gives ``Δ = mean(d)`` with its 95 % t CI,
  ``Δ ± t_{0.975, n−1} s_d / √n``, and the paired t-test's p (``scipy.stats.ttest_rel``);
* a comparison at equal accuracy (``want: equal``) gives Δ with its 90 % t CI and the paired TOST p
  with margin ±δ (Schuirmann 1987, ``statsmodels``' ``ttost_paired``), read as equivalent,
  non-inferior, worse or inconclusive (:func:`snnkd.results.stats.equivalence_verdict`);
* p-values are Holm-corrected (Holm 1979) over the comparisons of one claim on one dataset.

Accuracy differences are in points, the other metrics' in % of ``against``'s mean. A claim's
``iso_accuracy`` methods are restated as activity at iso-accuracy (:mod:`snnkd.results.tradeoff`). The
claims themselves are data (:mod:`snnkd.verdicts.claims_spec`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from snnkd.errors import ConfigError
from snnkd.results import stats as S
from snnkd.verdicts.claims_spec import METRICS, Claims, Comparison
from snnkd.verdicts.runs import Runs

UNITS = ("test_accuracy", "val_accuracy", "spikes_per_sample", "synops", "energy_pj")
METHOD_TEXT = (
    "Every comparison pairs seed s of one method with seed s of the other (same initialisation and "
    "data order). A directional comparison (a gain, a cut) gives Δ, the mean paired difference with "
    'its 95 % t CI, and the paired t-test\'s p; a comparison "at equal accuracy" gives Δ with its '
    "90 % t CI and the paired TOST p with margin ±δ (Schuirmann's two one-sided tests, statsmodels' "
    "ttost_paired), read as equivalent within δ (TOST rejected), non-inferior (only the lower "
    "one-sided test rejected), worse (significantly lower) or inconclusive (the CI is wider than the "
    "margin): no significant difference is never read as equal. p-values are Holm-corrected over the "
    'comparisons of one claim on one dataset. A claim "holds" on a dataset only where its '
    "comparisons agree with it after Holm."
)
COUNTS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def p_text(p: float) -> str:
    return "–" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def compare(
    a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]], metric: str, sign: int, delta: float
) -> tuple[list[int], S.Paired, S.Equivalence | None, float]:
    """Seeds both have, the paired t comparison, the TOST (``sign == 0``) and ``against``'s mean."""
    seeds = sorted(set(a) & set(b))
    xa, xb = [a[s][metric] for s in seeds], [b[s][metric] for s in seeds]
    tost = S.equivalence(xa, xb, delta) if sign == 0 else None
    return seeds, S.paired(xa, xb), tost, float(np.mean(xb))


def verdict(sign: int, c: S.Paired, e: S.Equivalence | None, p: float, p_ni: float, p_worse: float) -> str:
    """Whether a comparison agrees with its claim after Holm (``p``: the Holm-adjusted p)."""
    if e is not None:
        return S.equivalence_verdict(p, p_ni, p_worse, e.diff)
    sig = bool(np.isfinite(p) and p < S.ALPHA)
    return "yes" if sig and np.sign(c.diff) == sign else ("opposite" if sig else "no (noise)")


def claim_rows(runs: Runs, dataset: str, comparisons: list[Comparison], delta: float) -> list[str]:
    """One claim's table rows on one dataset, Holm over its comparisons that have runs."""
    rows = []
    for cmp in comparisons:
        a, b = runs.get((dataset, cmp.method)), runs.get((dataset, cmp.against))
        if a and b:
            for name, seeds in ((cmp.method, a), (cmp.against, b)):
                lacking = [s for s in sorted(seeds) if cmp.metric not in seeds[s]]
                if lacking:
                    where = f"runs/{dataset}/{name}/seed{lacking[0]}/metrics.json"
                    raise ConfigError(f"--results: {where}: {cmp.metric}: missing (a claim compares it)")
            rows.append((cmp, *compare(a, b, cmp.metric, cmp.sign, delta)))
    primary = S.holm([e.p_tost if e else c.p_t for _, _, c, e, _ in rows])
    lower = S.holm([e.p_noninferior if e else c.p_t for _, _, c, e, _ in rows])
    worse = S.holm([e.p_worse if e else c.p_t for _, _, c, e, _ in rows])
    lines = []
    for k, (cmp, seeds, c, e, ref) in enumerate(rows):
        scale, unit = (100.0, "pp") if cmp.metric == "test_accuracy" else (100.0 / ref, "%")
        low, high, test = (e.low, e.high, "TOST ±δ") if e else (c.low, c.high, "paired t")
        ci = "90%" if e else "95%"
        lines.append(
            f"| {dataset} | {cmp.method} − {cmp.against} | {METRICS[cmp.metric]} "
            f"| {len(seeds)} | {scale * c.diff:+.2f} {unit} [{scale * low:+.2f}, {scale * high:+.2f}] ({ci}) "
            f"| {test} | {p_text(primary[k]) + (f' (non-inferiority {p_text(lower[k])})' if e else '')} "
            f"| {verdict(cmp.sign, c, e, primary[k], lower[k], worse[k])} |"
        )
    return lines


def frame(runs: Runs, methods: tuple[str, ...]) -> pd.DataFrame:
    """One row per (dataset, method, seed) of ``methods``, with the columns of :data:`UNITS`."""
    rows = [
        {"dataset": d, "method": m, "seed": s, **{u: rec.get(u, np.nan) for u in UNITS}}
        for (d, m), seeds in runs.items()
        if m in methods
        for s, rec in seeds.items()
    ]
    return pd.DataFrame(rows)


def iso_section(runs: Runs, key: str, methods: list[str], reference: str, delta_pp: float) -> list[str]:
    """A claim restated as the papers state it: activity at iso-accuracy, in spikes, SynOps and energy."""
    from snnkd.results import tradeoff

    iso = tradeoff.iso_accuracy(frame(runs, (reference, *methods)), reference=reference, delta_pp=delta_pp)
    count = COUNTS.get(len(methods), str(len(methods)))
    family = "the claim's method" if len(methods) == 1 else f"the claim's {count} methods"
    lines = [
        f"### ({key}) restated: activity at iso-accuracy (spikes, SynOps, energy)",
        "",
        tradeoff.iso_legend(delta_pp) + f" Holm over {family} on each dataset.",
        "",
    ]
    for dataset, view in tradeoff.iso_frames(iso).items():
        lines += [f"**{dataset}**", "", view.to_markdown(index=False, disable_numparse=True), ""]
    return lines


def power_line(runs: Runs, reference: str, delta: float) -> str:
    """The 90 % CI half-width of every paired accuracy difference with the reference the seeds give."""
    widths, seeds = [], set()
    for (d, m), a in sorted(runs.items()):
        b = runs.get((d, reference))
        if m == reference or not b:
            continue
        common, _, e, _ = compare(a, b, "test_accuracy", 0, delta)
        assert e is not None
        widths.append(100 * e.half_width)
        seeds.add(len(common))
    if not widths:
        return f"Power: no method has runs paired with {reference}'s."
    n = ", ".join(str(k) for k in sorted(seeds))
    wilcoxon = (
        f"The Wilcoxon signed-rank test is left out: with {n} seeds its smallest two-sided p is "
        f"{S.min_wilcoxon_p(min(seeds)):.4g}, so it cannot reach 0.05."
        if not any(S.wilcoxon_can_reject(k) for k in seeds)
        else ""
    )
    return (
        f"Power: with {n} seeds, the 90 % t CI half-width of a paired accuracy difference against "
        f"{reference} is {np.median(widths):.2f} pp (median; {min(widths):.2f} to {max(widths):.2f} pp "
        f"over the {len(widths)} method-dataset pairs) against a margin δ = {100 * delta:g} pp: TOST can "
        "show equivalence only where the half-width is below δ − |Δ|. " + wilcoxon
    ).strip()


def render(runs: Runs, claims: Claims, delta_pp: float) -> str:
    """``claims.md``: the method paragraph, the power line, then one table per claim."""
    delta = delta_pp / 100.0
    datasets = sorted({d for d, _ in runs})
    lines = [
        "# The seed papers' claims, paired by seed",
        "",
        METHOD_TEXT,
        "",
        power_line(runs, claims.reference, delta),
        "",
    ]
    for key, claim in claims.claims.items():
        lines += [f"## ({key}) {claim.text}", ""]
        lines += [
            "| dataset | comparison | metric | seeds | Δ [CI] | test | p (Holm) | as claimed? |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for dataset in datasets:
            lines += claim_rows(runs, dataset, claim.compare, delta)
        lines.append("")
        if claim.iso_accuracy:
            lines += iso_section(runs, key, claim.iso_accuracy, claims.reference, delta_pp)
    return "\n".join(lines)
