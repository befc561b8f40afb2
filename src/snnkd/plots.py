"""Leaderboard figures: accuracy against energy (Pareto front), firing rate per layer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _figure(n: int, width: float = 6.0, height: float = 4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return plt, fig, axes[0]


def pareto(table: pd.DataFrame, path: Path) -> Path:
    """Test accuracy against energy per inference per method (error bars: std over seeds), front joined."""
    datasets = sorted(table["dataset"].unique())
    plt, fig, axes = _figure(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        part = table[table["dataset"] == dataset]
        for row in part.itertuples(index=False):
            ax.errorbar(
                row.energy_pj / 1e3,
                100 * row.test_acc_mean,
                xerr=None if pd.isna(row.energy_pj_std) else row.energy_pj_std / 1e3,
                yerr=None if pd.isna(row.test_acc_std) else 100 * row.test_acc_std,
                fmt="*" if row.pareto else "o",
                markersize=11 if row.pareto else 6,
                capsize=3,
                label=row.method,
            )
        front = part[part["pareto"]].sort_values("energy_pj")
        ax.step(
            front["energy_pj"] / 1e3, 100 * front["test_acc_mean"], where="post", color="grey", lw=1, ls="--"
        )
        ax.set(title=dataset, xlabel="energy per inference (nJ)", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Accuracy vs energy (★ Pareto front; bars: std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def layer_rates(rates: pd.DataFrame, path: Path) -> Path:
    """Mean firing rate of every spiking layer, one group of bars per layer, one bar per method."""
    datasets = sorted(rates["dataset"].unique()) or ["(no runs)"]
    plt, fig, axes = _figure(len(datasets), width=7.0)
    for ax, dataset in zip(axes, datasets, strict=True):
        part = rates[rates["dataset"] == dataset]
        if not part.empty:
            wide = part.pivot(index="layer", columns="method", values="firing_rate")
            wide.plot.bar(ax=ax, rot=0, width=0.85)
            ax.legend(fontsize=7, ncols=2)
        ax.set(title=dataset, xlabel="layer", ylabel="firing rate (spikes / neuron / step)")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
