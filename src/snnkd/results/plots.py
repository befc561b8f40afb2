"""Leaderboard figures from the per-run table: trade-offs, firing rates, validation curves.

Every figure reads one row per (dataset, method, seed) and shows, per method, the
mean over seeds with error bars: in the trade-off figures the 95 % t confidence
interval of the mean on both axes (:func:`snnkd.results.stats.mean_ci`; none with a single
seed), with ``scratch``'s means drawn as dashed reference lines, and a sweep's points (its
variants, :mod:`snnkd.pipeline.sweeps`) in their method's colour, open, joined in increasing value;
elsewhere one standard deviation (``ddof=1``). Layers are drawn in the network's order. Each
method keeps one colour and one marker in every figure (:func:`styles`), and legends sit outside
the axes, so no point is hidden.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

# Okabe-Ito and Tableau colours: 14 distinct hues before any repeats.
COLOURS = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
    "#F0E442", "#8C564B", "#7F7F7F", "#BCBD22", "#9467BD", "#17BECF", "#E377C2",
]  # fmt: skip
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p", "d", "8"]

AXES = {
    "spikes_per_sample": ("spikes per sample", 1.0),
    "synops": ("SynOps per sample", 1.0),
    "energy_pj": ("energy per inference (nJ)", 1e-3),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styles(methods: Iterable[str]) -> dict[str, dict[str, str]]:
    """A distinct (colour, marker) per method, fixed by the sorted method names."""
    names = sorted(set(methods))
    return {
        m: {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)]}
        for i, m in enumerate(names)
    }


def per_method(runs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Mean, std and 95 % t CI half-width over seeds of ``columns`` per (dataset, method):
    ``<col>_mean``, ``<col>_std``, ``<col>_ci`` (NaN with a single seed)."""
    from snnkd.results.stats import mean_ci

    grouped = runs.groupby(["dataset", "method"])[columns]

    def half(x: pd.Series) -> float:
        ci = mean_ci(x.to_numpy())
        return (ci.high - ci.low) / 2

    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    out = out.join(grouped.agg(half).add_suffix("_ci"))
    return out.reset_index()


def _legend(fig, style: dict[str, dict[str, str]], bars: bool = False) -> None:
    """One legend for the figure, right of the axes, with every method (patches for bar charts)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=s["color"], label=m)
        if bars
        else Line2D([], [], ls="", color=s["color"], marker=s["marker"], markersize=7, label=m)
        for m, s in style.items()
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="method")


def _errorbar(ax, row, x: str, scale: float, style: dict[str, str], hollow: bool = False) -> None:
    xm, xs = getattr(row, f"{x}_mean"), getattr(row, f"{x}_ci")
    ym, ys = row.test_accuracy_mean, row.test_accuracy_ci
    ax.errorbar(
        scale * xm,
        100 * ym,
        xerr=None if pd.isna(xs) else scale * xs,
        yerr=None if pd.isna(ys) else 100 * ys,
        fmt=style["marker"],
        color=style["color"],
        markersize=6 if hollow else 7,
        capsize=3,
        elinewidth=1,
        **(_open_marker(style["color"]) if hollow else {"markeredgecolor": "white", "markeredgewidth": 0.6}),
    )


def _open_marker(colour: str) -> dict[str, object]:
    """A sweep point's marker: open, in its method's colour."""
    return {"markerfacecolor": "white", "markeredgecolor": colour, "markeredgewidth": 1.2}


def _tradeoff_axis(
    ax, part: pd.DataFrame, x: str, style, reference: str = "scratch", sweeps: Mapping[str, str] | None = None
) -> None:
    label, scale = AXES[x]
    sweeps = sweeps or {}
    for row in part[part["method"] == reference].itertuples(index=False):
        ax.axvline(scale * getattr(row, f"{x}_mean"), color="#777777", ls="--", lw=0.9, zorder=0)
        ax.axhline(100 * row.test_accuracy_mean, color="#777777", ls="--", lw=0.9, zorder=0)
    for row in part[~part["method"].isin(list(sweeps))].itertuples(index=False):
        _errorbar(ax, row, x, scale, style[row.method])
    for method in dict.fromkeys(sweeps.values()):  # each sweep: its points in value order, joined
        names = [n for n, m in sweeps.items() if m == method]
        pts = part.set_index("method").reindex(names).dropna(subset=["test_accuracy_mean"])
        ax.plot(scale * pts[f"{x}_mean"], 100 * pts["test_accuracy_mean"], color=style[method]["color"], lw=1)
        for row in pts.reset_index().itertuples(index=False):
            _errorbar(ax, row, x, scale, style[method], hollow=True)
    ax.set(xlabel=label, ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)


def tradeoffs(
    runs: pd.DataFrame,
    xs: list[str] | None = None,
    datasets: list[str] | None = None,
    methods: Iterable[str] | None = None,
    sweeps: Mapping[str, str] | None = None,
):
    """Accuracy against each of ``xs`` (default: spikes, SynOps, energy), one row of panels per dataset.

    ``methods`` fixes the colours and markers (default: the methods in ``runs``); ``sweeps`` maps
    each sweep variant in ``runs`` to its method, in curve order: its points take the method's style.
    """
    plt = _pyplot()
    sweeps = dict(sweeps or {})
    xs = xs or list(AXES)
    datasets = datasets or sorted(runs["dataset"].unique())
    runs = runs[runs["dataset"].isin(datasets)]
    stats = per_method(runs, ["test_accuracy", *xs])
    plain = runs["method"][~runs["method"].isin(list(sweeps))]
    style = styles(methods if methods is not None else [*plain, *sweeps.values()])
    single = len(xs) * len(datasets) == 1  # the main trade-off plot on its own: larger
    width, height = (8.0, 5.4) if single else (4.8, 3.9)
    fig, axes = plt.subplots(
        len(datasets), len(xs), figsize=(width * len(xs), height * len(datasets)), squeeze=False
    )
    for r, dataset in enumerate(datasets):
        part = stats[stats["dataset"] == dataset]
        for c, x in enumerate(xs):
            _tradeoff_axis(axes[r][c], part, x, style, sweeps=sweeps)
            axes[r][c].set_title(f"{dataset}: accuracy vs {AXES[x][0].split(' (')[0]}", fontsize=10)
    title = "Test accuracy against activity and cost (mean, 95 % CI over seeds on both axes; dashed: scratch"
    title += "; open, joined: a sweep's points)" if sweeps else ")"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _legend(fig, {m: style[m] for m in sorted({*plain.unique(), *sweeps.values()})})
    return fig


def firing_rates(
    runs: pd.DataFrame,
    datasets: list[str] | None = None,
    methods: Iterable[str] | None = None,
    order: Mapping[str, Sequence[str]] | None = None,
):
    """Mean firing rate of every spiking layer: one group per layer, one bar per method, ± 1 std.

    Layers in ``order[dataset]`` (the network's order, :func:`snnkd.results.layer_ops.fanouts`) come first
    in that order, any other layer after them by name: never the table's column order, which
    depends on where the runs were read from.
    """
    plt = _pyplot()
    prefix = "firing_rate/"
    cols = [c for c in runs.columns if c.startswith(prefix)]
    datasets = datasets or sorted(runs["dataset"].unique()) or ["(no runs)"]
    style = styles(methods if methods is not None else runs["method"])
    fig, axes = plt.subplots(len(datasets), 1, figsize=(11, 3.6 * len(datasets)), squeeze=False)
    for ax, dataset in zip(axes[:, 0], datasets, strict=True):
        part = runs[runs["dataset"] == dataset]
        named = [f"{prefix}{n}" for n in (order or {}).get(dataset, [])]
        layers = [c for c in [*named, *sorted(cols)] if c in cols and part[c].notna().any()]
        layers = list(dict.fromkeys(layers))
        methods = sorted(part["method"].unique())
        width = 0.85 / max(1, len(methods))
        for j, method in enumerate(methods):
            rows = part[part["method"] == method][layers]
            mean, std = rows.mean(), rows.std(ddof=1)
            pos = [i - 0.425 + width * (j + 0.5) for i in range(len(layers))]
            ax.bar(
                pos,
                mean.to_numpy(),
                width,
                yerr=None if len(rows) < 2 else std.to_numpy(),
                color=style[method]["color"],
                capsize=2,
                error_kw={"elinewidth": 0.8},
            )
        ax.set_xticks(range(len(layers)), [c.removeprefix(prefix) for c in layers])
        ax.set(title=dataset, ylabel="firing rate (spikes / neuron / step)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Firing rate per layer (mean ± 1 std over seeds)", fontsize=11)
    fig.tight_layout()
    _legend(fig, {m: style[m] for m in sorted(runs["method"].unique())}, bars=True)
    return fig


def curves(curves: pd.DataFrame, dataset: str, methods: Iterable[str] | None = None):
    """Validation accuracy per epoch per method: mean line and a ± 1 std band over seeds.

    ``curves`` has columns ``dataset, method, seed, epoch, val_accuracy``.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    part = curves[curves["dataset"] == dataset]
    style = styles(methods if methods is not None else curves["method"])
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for method, rows in sorted(part.groupby("method")):
        by_epoch = rows.groupby("epoch")["val_accuracy"]
        mean, std = 100 * by_epoch.mean(), 100 * by_epoch.std(ddof=1).fillna(0.0)
        s = style[method]
        ax.plot(mean.index, mean.to_numpy(), color=s["color"], marker=s["marker"], markersize=4, lw=1.4)
        ax.fill_between(
            mean.index, (mean - std).to_numpy(), (mean + std).to_numpy(), color=s["color"], alpha=0.15
        )
    ax.set(title=f"{dataset}: validation accuracy (mean, band ± 1 std over seeds)", xlabel="epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _legend(fig, {m: style[m] for m in sorted(part["method"].unique())})
    return fig


def png(fig, path: Path | None = None, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (written to ``path`` too when given); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def pareto(runs: pd.DataFrame, path: Path, sweeps: Mapping[str, str] | None = None) -> Path:
    """``pareto.png``: accuracy against spikes, SynOps and energy per dataset (sweeps as curves)."""
    png(tradeoffs(runs, sweeps=sweeps), path)
    return path


def layer_rates(runs: pd.DataFrame, path: Path, order: Mapping[str, Sequence[str]] | None = None) -> Path:
    """``firing_rates.png``: firing rate per layer (in the network's ``order``) and method, error bars."""
    png(firing_rates(runs, order=order), path)
    return path
