"""Statistics of a verdict over seeds: CIs, paired tests, Holm correction, significance groups.

Seeds pair naturally: seed ``s`` gives the same initialisation and data order to
every method, so a method is compared with another on the differences
``d_s = x_s^m - x_s^ref`` over the seeds both have. Everything here is computed by
SciPy and statsmodels:

* mean with a 95 % CI over seeds: Student's t, ``mean ± t_{0.975, n-1} s / sqrt(n)``
  (``scipy.stats.ttest_1samp(...).confidence_interval``);
* paired difference ``mean(d)`` with its 95 % t CI, the paired t-test
  (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``,
  exact for small n: with 5 seeds its smallest two-sided p is 0.0625, so it can
  confirm but never alone establish a difference at the 5 % level);
* Holm's step-down correction of the paired-t p-values over a family of comparisons
  (``statsmodels.stats.multitest.multipletests(method="holm")``; Holm 1979);
* significance groups: ``rank = 1 + #{methods significantly better}`` from all pairwise
  paired t-tests of a dataset, Holm-corrected together; methods that nothing beats
  share rank 1;
* a noise-aware Pareto front (accuracy up, cost down): a point is marked only when it is
  on the front of the means, its advantage over every point that beats it on one axis is
  significant on the other axis, **and** it is significantly better than the reference
  (``scratch``) on at least one axis;
* equivalence and non-inferiority of paired samples with a margin ``delta`` (Schuirmann's
  two one-sided tests, TOST, 1987; ``statsmodels.stats.weightstats.ttost_paired``):
  ``H0: mean(d) <= -delta or mean(d) >= +delta``, ``p_TOST = max(p_low, p_up)`` with
  ``p_low`` the one-sided t-test of ``H0: mean(d) <= -delta`` (the non-inferiority test)
  and ``p_up`` that of ``H0: mean(d) >= +delta``; TOST at level alpha is the same as the
  ``1 - 2 alpha`` (90 %) t CI lying inside ``(-delta, +delta)``. "Not significantly
  different" is never read as "equal": only a rejected TOST is;
* a paired bootstrap CI of a relative change ``100 (mean(a) - mean(b)) / mean(b)``,
  resampling seeds (``scipy.stats.bootstrap(paired=True)``, percentile method, fixed
  generator seed so a table is rebuilt byte for byte);
* the smallest two-sided p the exact Wilcoxon signed-rank test can give with ``n`` pairs,
  ``2 / 2^n`` (0.0625 with 5 seeds): below 6 pairs it cannot reach 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Paired:
    """A paired comparison ``a - b`` over matched seeds."""

    diff: float
    low: float
    high: float
    n: int
    p_t: float
    p_wilcoxon: float


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and its two-sided t confidence interval (NaN bounds with fewer than two values)."""
    from scipy import stats

    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan, len(x))
    if np.ptp(x) == 0:
        return Interval(mean, mean, mean, len(x))
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return Interval(mean, float(ci.low), float(ci.high), len(x))


def finite_pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Matched samples ``a`` and ``b`` (e.g. one per seed) kept where both are finite."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {len(x)} and {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def paired(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Paired:
    """Paired comparison of matched samples ``a`` and ``b``: mean difference, CI, t and Wilcoxon p."""
    from scipy import stats

    x, y = finite_pairs(a, b)
    d = x - y
    n = len(d)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, 0, math.nan, math.nan)
    diff = float(d.mean())
    if n < 2:
        return Paired(diff, math.nan, math.nan, n, math.nan, math.nan)
    if np.ptp(d) == 0:  # every seed differs by the same amount: no spread to test against
        p = 1.0 if diff == 0 else 0.0
        return Paired(diff, diff, diff, n, p, 1.0 if diff == 0 else _wilcoxon(d))
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(confidence)
    return Paired(diff, float(ci.low), float(ci.high), n, float(res.pvalue), _wilcoxon(d))


def _wilcoxon(d: np.ndarray) -> float:
    from scipy import stats

    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values; NaN entries stay NaN and are not counted in the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method="holm")[1]
    return out


def pairwise_better(
    samples: dict[str, np.ndarray], higher_is_better: bool = True
) -> dict[tuple[str, str], bool]:
    """``(i, j) -> True`` where ``i`` is significantly better than ``j`` (paired t, Holm over all pairs).

    ``samples`` maps a name to its values ordered by seed (NaN where a seed is missing).
    """
    names = list(samples)
    pairs = [(i, j) for k, i in enumerate(names) for j in names[k + 1 :]]
    tests = [paired(samples[i], samples[j]) for i, j in pairs]
    adjusted = holm([t.p_t for t in tests])
    better: dict[tuple[str, str], bool] = {}
    for (i, j), t, p in zip(pairs, tests, adjusted, strict=True):
        sig = bool(np.isfinite(p) and p < ALPHA)
        up = t.diff > 0 if higher_is_better else t.diff < 0
        better[(i, j)] = sig and up
        better[(j, i)] = sig and not up and t.diff != 0
    return better


def significance_ranks(samples: dict[str, np.ndarray], higher_is_better: bool = True) -> dict[str, int]:
    """``rank = 1 + number of methods significantly better``: methods nothing separates share a rank."""
    better = pairwise_better(samples, higher_is_better)
    return {m: 1 + sum(better[(o, m)] for o in samples if o != m) for m in samples}


def pareto_means(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """True where no other point has at least the accuracy and at most the cost, better in one."""
    acc = np.asarray(accuracy, float)[:, None]
    cst = np.asarray(cost, float)[:, None]
    ge, le = acc.T >= acc, cst.T <= cst  # [i, j]: j at least as good as i
    strictly = (acc.T > acc) | (cst.T < cst)
    return ~(ge & le & strictly).any(axis=1)


def noise_aware_front(
    accuracy: dict[str, np.ndarray],
    cost: dict[str, np.ndarray],
    beats_reference: dict[str, bool] | None = None,
) -> dict[str, bool]:
    """Pareto front of accuracy (up) against cost (down) that marks only differences exceeding noise.

    ``i`` is marked when it is on the front of the means and, for every ``j`` with a higher mean
    accuracy, ``i`` has a significantly lower cost, and for every ``j`` with a lower mean cost,
    ``i`` is significantly more accurate (paired t-tests, Holm over each metric's pairs); and,
    where ``beats_reference`` is given, only when it is True for ``i``: significantly better than
    the reference on at least one axis (a point nothing beats is not marked by default, and the
    reference itself, never better than itself, is never marked).
    """
    names = list(accuracy)
    mean_acc = np.array([np.nanmean(accuracy[m]) for m in names])
    mean_cost = np.array([np.nanmean(cost[m]) for m in names])
    front = pareto_means(mean_acc, mean_cost)
    acc_better = pairwise_better(accuracy, higher_is_better=True)
    cost_better = pairwise_better(cost, higher_is_better=False)
    out: dict[str, bool] = {}
    for a, i in enumerate(names):
        ok = bool(front[a])
        for b, j in enumerate(names):
            if not ok or j == i:
                continue
            if mean_acc[b] > mean_acc[a] and not cost_better[(i, j)]:
                ok = False
            if mean_cost[b] < mean_cost[a] and not acc_better[(i, j)]:
                ok = False
        out[i] = ok and (beats_reference is None or bool(beats_reference.get(i, False)))
    return out


@dataclass(frozen=True)
class Equivalence:
    """Paired equivalence test of ``a - b`` with margin ``delta`` (same units as the samples).

    ``p_tost``: TOST p (``H0: |mean(d)| >= delta``); ``p_noninferior``: one-sided p of
    ``H0: mean(d) <= -delta``; ``p_worse``: one-sided p of ``H0: mean(d) >= 0`` (evidence that
    ``a`` is below ``b`` at all); ``low``/``high``: the 90 % t CI of ``mean(d)`` (TOST's interval)
    and ``half_width`` its half-width.
    """

    diff: float
    low: float
    high: float
    half_width: float
    n: int
    p_tost: float
    p_noninferior: float
    p_worse: float


def equivalence(a: Sequence[float], b: Sequence[float], delta: float) -> Equivalence:
    """TOST and non-inferiority of paired ``a - b`` with margin ``delta`` (statsmodels ``ttost_paired``)."""
    from scipy import stats
    from statsmodels.stats.weightstats import ttost_paired

    x, y = finite_pairs(a, b)
    d = x - y
    n = len(d)
    nan = math.nan
    if n < 2:
        return Equivalence(float(d.mean()) if n else nan, nan, nan, nan, n, nan, nan, nan)
    diff = float(d.mean())
    if np.ptp(d) == 0:  # no spread: the difference is known exactly
        inside = -delta < diff < delta
        return Equivalence(
            diff, diff, diff, 0.0, n, 0.0 if inside else 1.0, 0.0 if diff > -delta else 1.0,
            0.0 if diff < 0 else 1.0,
        )  # fmt: skip
    p_tost, (_, p_low, _), _ = ttost_paired(x, y, -delta, delta)
    worse = stats.ttest_rel(x, y, alternative="less")
    ci = stats.ttest_rel(x, y).confidence_interval(1 - 2 * ALPHA)  # TOST's 90 % interval
    half = (float(ci.high) - float(ci.low)) / 2
    return Equivalence(
        diff, float(ci.low), float(ci.high), half, n, float(p_tost), float(p_low), float(worse.pvalue)
    )


EQUIVALENT = "equivalent within δ"
NONINFERIOR = "non-inferior"
WORSE = "worse"
INCONCLUSIVE = "inconclusive (CI wider than the margin)"


def equivalence_verdict(p_tost: float, p_noninferior: float, p_worse: float, diff: float) -> str:
    """One of :data:`EQUIVALENT`, :data:`NONINFERIOR`, :data:`WORSE`, :data:`INCONCLUSIVE`.

    From (Holm-adjusted) p-values at level :data:`ALPHA`, in this order: TOST rejected ->
    equivalent within delta; the lower one-sided test rejected -> non-inferior (a gain larger
    than delta is non-inferior, not equivalent); ``a`` significantly below ``b`` -> worse;
    otherwise nothing is shown and the CI is wider than the margin allows.
    """
    if np.isfinite(p_tost) and p_tost < ALPHA:
        return EQUIVALENT
    if np.isfinite(p_noninferior) and p_noninferior < ALPHA:
        return NONINFERIOR
    if np.isfinite(p_worse) and p_worse < ALPHA and diff < 0:
        return WORSE
    return INCONCLUSIVE


def relative_change_ci(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, resamples: int = 9999
) -> Interval:
    """``100 (mean(a) - mean(b)) / mean(b)`` (in %) over paired seeds, with a paired bootstrap CI.

    Seeds are resampled together (``scipy.stats.bootstrap(..., paired=True)``, percentile
    interval, generator seed 0: the same numbers on every rebuild). NaN bounds with fewer than
    two pairs; a zero-width interval where every pair has the same ratio.
    """
    from scipy import stats

    x, y = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)

    def change(u, v, axis=-1):
        return 100.0 * (np.mean(u, axis=axis) - np.mean(v, axis=axis)) / np.mean(v, axis=axis)

    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(change(x, y))
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    if np.ptp(x / y) == 0:
        return Interval(mean, mean, mean, n)
    res = stats.bootstrap(
        (x, y), change, paired=True, vectorized=True, confidence_level=confidence,
        n_resamples=resamples, method="percentile", rng=np.random.default_rng(0),
    )  # fmt: skip
    ci = res.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), n)


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p of the exact Wilcoxon signed-rank test with ``n`` non-zero pairs:
    every difference of one sign, ``2 * (1/2)^n``."""
    return min(1.0, 2.0 / 2.0**n) if n > 0 else 1.0


def wilcoxon_can_reject(n: int) -> bool:
    """Whether the Wilcoxon signed-rank test can reach :data:`ALPHA` at all with ``n`` pairs."""
    return min_wilcoxon_p(n) < ALPHA
