"""How long each stage took when ``snnkd scale`` last ran it, and the start order it suggests.

A 2-core run of the default suite spent its last 20 minutes on one stage, started last because
DVC's order put it last. List scheduling by *bottom level* (a task's own time plus the longest
chain of work that waits for it; Kwok and Ahmad, "Static scheduling algorithms for allocating
directed task graphs to multiprocessors", ACM Computing Surveys 31(4), 1999) starts the longest
chains first, so short stages fill the cores at the end instead.

The driver records each executed stage's wall seconds in ``runs/scale/durations.json`` (ignored
by git, like the rest of ``runs/``); the next run orders the ready stages by their bottom levels
over those seconds. A stage never timed counts one second, so on a first run the order is the
longest chain of *stages* (networks before their tuning before their methods), ties in DVC's
order. The order changes only when stages start, never what they compute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from snnkd.core.atomic import atomic_text
from snnkd.scale.dag import Stage

FILE = Path("runs") / "scale" / "durations.json"
UNTIMED_S = 1.0


def load(root: Path) -> dict[str, float]:
    """Stage name -> seconds of its last execution (empty when none was recorded or readable)."""
    try:
        data = json.loads((root / FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def record(root: Path, seconds: Mapping[str, float]) -> None:
    """Merge ``seconds`` (stage -> wall seconds of an execution) into the recorded durations."""
    if not seconds:
        return
    merged = {**load(root), **seconds}
    (root / FILE).parent.mkdir(parents=True, exist_ok=True)
    atomic_text(root / FILE, json.dumps(dict(sorted(merged.items())), indent=2) + "\n")


def bottom_levels(stages: Iterable[Stage], seconds: Mapping[str, float]) -> dict[str, float]:
    """Each stage's seconds plus the longest chain of the given stages that need it."""
    order = list(stages)  # dependency order: a stage's needs come before it
    after: dict[str, list[str]] = {s.name: [] for s in order}
    for stage in order:
        for need in stage.needs:
            if need in after:
                after[need].append(stage.name)
    level: dict[str, float] = {}
    for stage in reversed(order):
        own = seconds.get(stage.name, UNTIMED_S)
        level[stage.name] = own + max((level[n] for n in after[stage.name]), default=0.0)
    return level


def start_order(stages: list[Stage], seconds: Mapping[str, float]) -> list[Stage]:
    """``stages`` (in dependency order) sorted by bottom level, longest first; ties keep DVC's order.

    The driver starts, among the stages whose needs are done, the first in this list, so a stage
    never starts before its needs whatever the sort puts first."""
    level = bottom_levels(stages, seconds)
    return sorted(stages, key=lambda s: -level[s.name])  # sorted() is stable
