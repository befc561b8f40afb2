"""The result of a study: the best trial, or the chosen point of an accuracy-activity front.

Choice rule of a multi-objective study (documented in ``docs/tuning.md``):
among the Pareto-optimal trials, keep those whose validation accuracy is
within :data:`TOLERANCE` (0.5 percentage points) of the best accuracy on the
front, and take the one with the lowest activity (spikes per sample or
energy); ties go to the higher accuracy, then the lower trial number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOLERANCE = 0.005  # accuracy is a fraction: 0.005 = 0.5 percentage points


@dataclass(frozen=True)
class Point:
    """One complete trial in objective space: accuracy (maximised) and activity (minimised)."""

    number: int
    accuracy: float
    activity: float
    params: dict[str, Any]


def dominates(a: Point, b: Point) -> bool:
    return (
        a.accuracy >= b.accuracy
        and a.activity <= b.activity
        and (a.accuracy > b.accuracy or a.activity < b.activity)
    )


def front(points: list[Point]) -> list[Point]:
    """The non-dominated points, sorted by activity."""
    kept = [p for p in points if not any(dominates(q, p) for q in points)]
    return sorted(kept, key=lambda p: (p.activity, -p.accuracy, p.number))


def choose(points: list[Point], tolerance: float = TOLERANCE) -> Point:
    """The lowest-activity front point within ``tolerance`` of the front's best accuracy."""
    f = front(points)
    if not f:
        raise ValueError("no complete trial to choose from")
    best = max(p.accuracy for p in f)
    near = [p for p in f if p.accuracy >= best - tolerance - 1e-12]
    return min(near, key=lambda p: (p.activity, -p.accuracy, p.number))


def plot(points: list[Point], chosen: Point, path: Path, title: str, activity_label: str) -> Path:
    """Every trial, the Pareto front and the chosen point, accuracy against activity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = front(points)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(
        [p.activity for p in points],
        [100 * p.accuracy for p in points],
        s=14,
        c="0.7",
        label="trials",
    )
    ax.plot(
        [p.activity for p in f],
        [100 * p.accuracy for p in f],
        "o-",
        c="C0",
        ms=5,
        label="Pareto front",
    )
    ax.scatter(
        [chosen.activity],
        [100 * chosen.accuracy],
        marker="*",
        s=180,
        c="C3",
        zorder=3,
        label=f"chosen (trial {chosen.number})",
    )
    ax.set_xlabel(activity_label)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
