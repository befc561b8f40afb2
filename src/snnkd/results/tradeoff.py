"""Verdicts on the accuracy-activity trade-off: activity at iso-accuracy and activity per layer.

Activity at iso-accuracy (the seed papers' figure: Louis et al., ICANN 2024, "-26.73 % activity
while preserving accuracy"; MD-SNN's "at iso-accuracy") for a method against the reference
(``scratch``), paired by seed, with a declared accuracy margin ``delta``:

1. the method's point: its one point, or where a suite gives it several (a sweep, declared in
   increasing regularisation weight), the last that is non-inferior to the reference on the
   **validation** accuracy within ``delta`` (one-sided paired t, Holm over the points): the
   test split is never used to choose;
2. on the test split, the point's accuracy against the reference: paired TOST and
   non-inferiority with margin ``delta`` (:func:`snnkd.results.stats.equivalence`), Holm over the
   dataset's methods, read as equivalent / non-inferior / worse / inconclusive;
3. its change in spikes per sample, SynOps and energy, ``100 (mean(m) - mean(ref)) / mean(ref)``
   with a paired bootstrap 95 % CI over seeds (:func:`snnkd.results.stats.relative_change_ci`). The
   change is an activity reduction "at iso-accuracy" only where step 2 says equivalent or
   non-inferior. A point whose spikes fall while its SynOps rise is named so.

Trade-off curves (:func:`sweep_curves`): a suite's sweeps (:mod:`snnkd.pipeline.sweeps`) give each method
several points, its variants; per dataset each point's test accuracy, spikes per sample, SynOps
and energy, mean over seeds with the 95 % t CI, in increasing value of the swept weight, with the
reference (``scratch``) first. A declared point with no runs is listed as "not run".

Activity per layer (:mod:`snnkd.results.layer_ops`): spikes ``S_l = r_l T N_l`` and attributed SynOps
``S_l F_l`` of every spiking layer, per method, with the change against the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from snnkd.results import stats as S

UNITS = {"spikes_per_sample": "spikes", "synops": "SynOps", "energy_pj": "energy"}
LAYER = "firing_rate/"
SPIKES_DOWN_SYNOPS_UP = "spikes fall, SynOps rise"
SPIKES_DOWN_SYNOPS_NOT = "spikes fall, SynOps do not"


def activity_note(spikes: S.Interval, synops: S.Interval) -> str:
    """Name a point whose spikes fall (95 % CI below 0) while its SynOps rise (CI above 0) or do not fall."""
    if not spikes.high < 0:
        return ""
    if synops.low > 0:
        return SPIKES_DOWN_SYNOPS_UP
    return SPIKES_DOWN_SYNOPS_NOT if not synops.high < 0 else ""


def _by_seed(part: pd.DataFrame, column: str) -> pd.DataFrame:
    return part.pivot_table(index="seed", columns="method", values=column, aggfunc="first")


def choose_point(val: pd.DataFrame, points: list[str], reference: str, delta: float) -> str | None:
    """The last of ``points`` (declared order) non-inferior to ``reference`` on validation accuracy.

    ``val``: validation accuracy as a (seed x method) table, in the same units as ``delta``. A
    single point is its own choice (nothing is selected); None when several points exist and
    none is non-inferior after Holm.
    """
    if len(points) == 1:
        return points[0]
    tests = [S.equivalence(val[p], val[reference], delta) for p in points]
    adjusted = S.holm([t.p_noninferior for t in tests])
    chosen = [p for p, q in zip(points, adjusted, strict=True) if np.isfinite(q) and q < S.ALPHA]
    return chosen[-1] if chosen else None


def iso_accuracy(
    runs: pd.DataFrame,
    reference: str = "scratch",
    delta_pp: float = 0.5,
    family: Callable[[str], str] = lambda method: method,
) -> pd.DataFrame:
    """Per dataset, method family and unit: the chosen point's test-accuracy verdict and activity change.

    ``runs``: one row per (dataset, method, seed) with ``test_accuracy``, ``val_accuracy`` (where
    a sweep needs choosing), ``spikes_per_sample``, ``synops`` and ``energy_pj``. ``family`` maps a
    method (a sweep point) to the method it is a point of; points keep the order they come in.
    """
    delta = delta_pp / 100.0
    rows = []
    for dataset, part in runs.groupby("dataset", sort=True):
        acc = _by_seed(part, "test_accuracy")
        if reference not in acc:
            continue
        val = _by_seed(part, "val_accuracy") if "val_accuracy" in part else None
        families: dict[str, list[str]] = {}
        for method in dict.fromkeys(part["method"]):
            if method != reference:
                families.setdefault(family(method), []).append(method)
        chosen = {
            f: choose_point(val, pts, reference, delta) if val is not None or len(pts) == 1 else None
            for f, pts in families.items()
        }
        picked = [(f, p) for f, p in chosen.items() if p is not None]
        tests = [S.equivalence(acc[p], acc[reference], delta) for _, p in picked]
        adjusted = {
            key: S.holm([getattr(t, key) for t in tests]) for key in ("p_tost", "p_noninferior", "p_worse")
        }
        changes = {
            col: {
                p: S.relative_change_ci(_by_seed(part, col)[p], _by_seed(part, col)[reference])
                for _, p in picked
            }
            for col in UNITS
        }
        for k, ((fam, point), test) in enumerate(zip(picked, tests, strict=True)):
            verdict = S.equivalence_verdict(
                adjusted["p_tost"][k], adjusted["p_noninferior"][k], adjusted["p_worse"][k], test.diff
            )
            spikes, synops = changes["spikes_per_sample"][point], changes["synops"][point]
            note = activity_note(spikes, synops)
            for col, unit in UNITS.items():
                c = changes[col][point]
                rows.append(
                    {
                        "dataset": dataset,
                        "method": fam,
                        "point": point,
                        "n_seeds": test.n,
                        "delta_acc_pp": 100 * test.diff,
                        "delta_acc_ci90_low_pp": 100 * test.low,
                        "delta_acc_ci90_high_pp": 100 * test.high,
                        "p_tost_holm": adjusted["p_tost"][k],
                        "p_noninferior_holm": adjusted["p_noninferior"][k],
                        "accuracy_verdict": verdict,
                        "iso_accuracy": verdict in (S.EQUIVALENT, S.NONINFERIOR),
                        "unit": unit,
                        "change_pct": c.mean,
                        "change_ci_low_pct": c.low,
                        "change_ci_high_pct": c.high,
                        "note": note,
                    }
                )
        for fam in (f for f, p in chosen.items() if p is None):
            rows.append({"dataset": dataset, "method": fam, "point": "", "accuracy_verdict": "no point"
                         " non-inferior on validation", "iso_accuracy": False, "note": ""})  # fmt: skip
    return pd.DataFrame(rows)


CURVE_AXES = ("test_accuracy", "spikes_per_sample", "synops", "energy_pj")
NOT_RUN = "not run"


def sweep_curves(
    runs: pd.DataFrame, variants: Mapping[str, Any], datasets: Iterable[str], reference: str = "scratch"
) -> pd.DataFrame:
    """Per dataset: the reference's point, then every sweep's points (``variants``: name ->
    :class:`snnkd.pipeline.sweeps.Variant`, in curve order), each with its mean and 95 % t CI over seeds of
    :data:`CURVE_AXES`; a point without runs has ``status`` "not run". Empty without sweeps."""
    rows: list[dict[str, Any]] = []
    if not variants:
        return pd.DataFrame(rows)
    for dataset in datasets:
        part = runs[runs["dataset"] == dataset] if len(runs) else runs
        points = [("reference", reference, "", np.nan)]
        points += [(v.family, v.name, v.hparam, v.value) for v in variants.values()]
        for family, point, hparam, value in points:
            sub = part[part["method"] == point] if len(part) else part
            row: dict[str, Any] = {"dataset": dataset, "sweep": family, "point": point,
                                   "hparam": hparam, "value": value, "n_seeds": int(sub["seed"].nunique())
                                   if len(sub) else 0}  # fmt: skip
            row["status"] = "" if len(sub) else NOT_RUN
            for col in CURVE_AXES:
                ci = S.mean_ci(sub[col].to_numpy()) if len(sub) and col in sub else S.mean_ci([])
                row.update({f"{col}_mean": ci.mean, f"{col}_ci_low": ci.low, f"{col}_ci_high": ci.high})
            rows.append(row)
    return pd.DataFrame(rows)


def _mean_ci(row: Mapping[str, Any], col: str, scale: float, fmt: str) -> str:
    mean, low, high = (row[f"{col}_{k}"] for k in ("mean", "ci_low", "ci_high"))
    if pd.isna(mean):
        return "–"
    ci = "" if pd.isna(low) else f" [{format(scale * low, fmt)}, {format(scale * high, fmt)}]"
    return format(scale * mean, fmt) + ci


def by_dataset(table: pd.DataFrame, rows: Callable[[pd.DataFrame], list[dict]]) -> dict[str, pd.DataFrame]:
    """``{dataset: DataFrame(rows(part))}`` over ``table``'s datasets, sorted; empty for an empty table."""
    if table.empty:
        return {}
    return {str(d): pd.DataFrame(rows(part)) for d, part in table.groupby("dataset", sort=True)}


def curve_frames(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, :func:`sweep_curves` as display strings (one row per point)."""

    def rows(part: pd.DataFrame) -> list[dict]:
        return [
            {
                "sweep": r["sweep"],
                "point": r["point"],
                "value": "–" if pd.isna(r["value"]) else f"{r['value']:g}",
                "seeds": r["status"] or f"{r['n_seeds']}",
                "test acc % [95% CI]": _mean_ci(r, "test_accuracy", 100.0, ".2f"),
                "spikes/sample [95% CI]": _mean_ci(r, "spikes_per_sample", 1.0, ".1f"),
                "SynOps [95% CI]": _mean_ci(r, "synops", 1.0, ".4g"),
                "energy nJ [95% CI]": _mean_ci(r, "energy_pj", 1e-3, ".2f"),
            }
            for r in part.to_dict("records")
        ]

    return by_dataset(curves, rows)


CURVE_LEGEND = (
    "Trade-off curves: every point of the suite's sweeps (one hyper-parameter of a method at a fixed "
    "value, never tuned, run over the suite's seeds), in increasing value, with `scratch` as the "
    "reference: mean over seeds with its 95 % t CI on each axis. Activity at iso-accuracy below reads "
    "each sweep as one method (its point chosen on validation accuracy)."
)


def layer_activity(runs: pd.DataFrame, fanouts: dict[str, dict], reference: str = "scratch") -> pd.DataFrame:
    """Per (dataset, method, spiking layer): spikes and attributed SynOps per sample, and their change.

    ``fanouts`` maps a dataset to :func:`snnkd.results.layer_ops.fanouts` of its student. A run's
    ``spikes_per_sample`` is split over its layers in proportion to ``r_l N_l`` (so the layers
    sum to the stored total and T cancels: ``S_l = r_l T N_l``). Changes are
    ``100 (mean(m) - mean(ref)) / mean(ref)`` over the seeds; ``synops_measured`` is the runs'
    mean total ``synops`` beside the attributed sum.
    """
    rows = []
    for dataset, part in runs.groupby("dataset", sort=True):
        layers = {n: f for n, f in fanouts.get(str(dataset), {}).items() if f"{LAYER}{n}" in part}
        if not layers:
            continue
        weight = pd.DataFrame({n: part[f"{LAYER}{n}"] * f.neurons for n, f in layers.items()})
        spikes = weight.mul(part["spikes_per_sample"] / weight.sum(axis=1), axis=0)
        ops = spikes.mul({n: f.fan_out for n, f in layers.items()})
        mean_s = spikes.groupby(part["method"]).mean()
        mean_o = ops.groupby(part["method"]).mean()
        measured = part.groupby("method")["synops"].mean()
        for method in mean_s.index:
            for name, fo in layers.items():
                s, o = mean_s.loc[method, name], mean_o.loc[method, name]
                ref_s = mean_s.loc[reference, name] if reference in mean_s.index else np.nan
                ref_o = mean_o.loc[reference, name] if reference in mean_o.index else np.nan
                rows.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "layer": name,
                        "neurons": fo.neurons,
                        "fan_out": fo.fan_out,
                        "drives": ", ".join(fo.targets) or "(nothing)",
                        "spikes": float(s),
                        "spikes_change_pct": 100 * (s - ref_s) / ref_s if ref_s else np.nan,
                        "synops_attributed": float(o),
                        "synops_change_pct": 100 * (o - ref_o) / ref_o if ref_o else np.nan,
                        "synops_measured": float(measured.get(method, np.nan)),
                    }
                )
    return pd.DataFrame(rows)


def _signed(x: float, fmt: str) -> str:
    return "–" if pd.isna(x) else format(x, "+" + fmt)


def _change(row) -> str:
    if pd.isna(row.get("change_pct", np.nan)):
        return "–"
    low, high = row["change_ci_low_pct"], row["change_ci_high_pct"]
    ci = "" if pd.isna(low) else f" [{_signed(low, '.1f')}, {_signed(high, '.1f')}]"
    return _signed(row["change_pct"], ".1f") + ci


def iso_frames(iso: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, :func:`iso_accuracy` as display strings: one row per method, one column per unit."""
    out: dict[str, pd.DataFrame] = {}
    if iso.empty:
        return out
    for dataset, part in iso.groupby("dataset", sort=True):
        rows = []
        for (method, point), g in part.groupby(["method", "point"], sort=False):
            first = g.iloc[0]
            acc = "–"
            if not pd.isna(first.get("delta_acc_pp", np.nan)):
                acc = (
                    f"{first['delta_acc_pp']:+.2f} [{first['delta_acc_ci90_low_pp']:+.2f}, "
                    f"{first['delta_acc_ci90_high_pp']:+.2f}]"
                )
            row = {
                "method": method,
                "point": point or "–",
                "seeds": "–" if pd.isna(first.get("n_seeds", np.nan)) else f"{first['n_seeds']:.0f}",
                "Δ acc pp [90% CI]": acc,
                "accuracy vs scratch": first["accuracy_verdict"],
                "TOST p (Holm)": _p(first.get("p_tost_holm", np.nan)),
            }
            by_unit = {r["unit"]: r for _, r in g.iterrows() if isinstance(r.get("unit"), str)}
            for unit in UNITS.values():
                row[f"Δ {unit} % [95% CI]"] = _change(by_unit[unit]) if unit in by_unit else "–"
            row["at iso-accuracy"] = "yes" if first["iso_accuracy"] else "no"
            row["note"] = first.get("note", "") or ""
            rows.append(row)
        out[str(dataset)] = pd.DataFrame(rows)
    return out


def layer_frames(layers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, :func:`layer_activity` as display strings (one row per method and layer)."""
    out: dict[str, pd.DataFrame] = {}
    if layers.empty:
        return out
    for dataset, part in layers.groupby("dataset", sort=True):
        rows = [
            {
                "method": r.method,
                "layer": r.layer,
                "neurons": f"{r.neurons}",
                "fan-out": f"{r.fan_out:.4g} ({r.drives})",
                "spikes/sample": f"{r.spikes:.1f}",
                "Δ spikes %": _signed(r.spikes_change_pct, ".1f"),
                "SynOps (spikes × fan-out)": f"{r.synops_attributed:.4g}",
                "Δ SynOps %": _signed(r.synops_change_pct, ".1f"),
                "measured SynOps (all layers)": f"{r.synops_measured:.4g}",
            }
            for r in part.itertuples(index=False)
        ]
        out[str(dataset)] = pd.DataFrame(rows)
    return out


def _p(p: float) -> str:
    if pd.isna(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def iso_legend(delta_pp: float) -> str:
    """What the activity-at-iso-accuracy table shows."""
    return (
        "Activity at iso-accuracy: each method's point (its only one, or a sweep's last point "
        "non-inferior on validation accuracy) against `scratch`. Accuracy: paired TOST with "
        f"δ = ±{delta_pp:g} pp and non-inferiority, Holm over the dataset's methods, on the test split; "
        "Δ acc with its 90 % t CI "
        "(TOST's interval: equivalent when it lies inside ±δ). Spikes, SynOps and energy per sample: "
        "100 (mean(method) − mean(scratch)) / mean(scratch) with a paired bootstrap 95 % CI over seeds "
        "(percentile, 9,999 resamples). A change counts as 'at iso-accuracy' only where the accuracy is "
        "equivalent or non-inferior within δ."
    )


# published text: it names layer_ops by its former path (snnkd.results.layer_ops now), kept so that the
# committed leaderboard.md and report.html files stay byte-identical (docs/architecture.md)
LAYER_LEGEND = (
    "Where activity goes: spikes per sample of each spiking layer (the stored total split in "
    "proportion to the layer's firing rate times its neurons) and the SynOps they cause, spikes × "
    "fan-out (synapses per neuron of the layers it drives, from the network's structure; "
    "snnkd.layer_ops). Spikes × fan-out is exact for a layer read directly by a Linear layer and an "
    "upper bound behind a max-pool (which merges a window's spikes into one): the measured SynOps "
    "(NeuroBench Effective_ACs) of all layers stand beside it. Δ: against scratch's mean."
)
