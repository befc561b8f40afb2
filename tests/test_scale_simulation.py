"""benchmarks/scale_perf.py's scaling model: list scheduling of the suite's tasks, on hand-made DAGs
whose makespans are computed by hand."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from scale_perf import bottom_levels, critical_path, schedule  # noqa: E402

# in DVC's order: two short seeds, a long one, and a task that needs the first short one
SECONDS = {"s1": 1.0, "s2": 1.0, "long": 4.0, "c": 2.0}
NEEDS: dict[str, set[str]] = {"s1": set(), "s2": set(), "long": set(), "c": {"s1"}}


def test_bottom_levels_and_the_critical_path():
    assert bottom_levels(SECONDS, NEEDS) == {"s1": 3.0, "s2": 1.0, "long": 4.0, "c": 2.0}
    assert critical_path(SECONDS, NEEDS) == 4.0


def test_dvc_order_leaves_the_long_task_for_last():
    # t=0 s1, s2; t=1 long (first in DVC's order) and c; long ends at 5
    assert schedule(SECONDS, NEEDS, 2, "dvc") == 5.0


def test_critical_path_order_starts_the_long_chain_first():
    # t=0 long, s1; t=1 c (bottom level 2 before s2's 1); t=3 s2; long ends at 4 = the bound
    assert schedule(SECONDS, NEEDS, 2, "critical-path") == 4.0


def test_one_core_runs_everything_in_turn_and_many_cores_reach_the_bound():
    assert schedule(SECONDS, NEEDS, 1, "dvc") == sum(SECONDS.values())
    assert schedule(SECONDS, NEEDS, 8, "dvc") == critical_path(SECONDS, NEEDS)


def test_a_batch_waits_for_the_previous_one():
    seconds = {"t0": 3.0, "t1": 1.0, "t2": 1.0}
    needs = {"t0": set(), "t1": set(), "t2": {"t0", "t1"}}  # trial 2 is asked after trials 0 and 1 are told
    assert schedule(seconds, needs, 2, "dvc") == 4.0
