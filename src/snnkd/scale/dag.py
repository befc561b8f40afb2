"""The pipeline as DVC sees it: its stages, their order, and which of them are stale.

Read through DVC's Python API (``dvc.repo.Repo``): ``repo.index.graph`` is the stage graph (an
edge goes from a stage to a stage it depends on), ``repo.status()`` names the stages whose
dependencies, parameters or outputs differ from ``dvc.lock``. A stage downstream of a stale one
is stale too: its inputs are about to change. So the stale set is what ``dvc repro`` would
reconsider, and each task's own ``dvc repro`` decides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stage:
    """A stage of ``dvc.yaml`` (``name`` as DVC addresses it, e.g. ``method@default-digits-kd``)."""

    name: str
    cmd: str
    needs: tuple[str, ...]  # the stages it depends on


def read(root: Path) -> tuple[list[Stage], set[str]]:
    """Every pipeline stage in dependency order, and the names of the stale ones."""
    import contextlib

    import networkx as nx
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo(str(root)) as repo:  # stage names are relative to the cwd
        graph = repo.index.graph
        order = [s for s in reversed(list(nx.topological_sort(graph))) if getattr(s, "cmd", None)]
        stages = [
            Stage(s.addressing, s.cmd, tuple(d.addressing for d in graph.successors(s) if d.cmd))
            for s in order
        ]
        changed = {name for name in repo.status() if name in {s.name for s in stages}}
    return stages, stale(stages, changed)


def stale(stages: list[Stage], changed: set[str]) -> set[str]:
    """``changed`` and every stage downstream of one of them."""
    out = set(changed)
    for stage in stages:  # dependency order: a stage's needs are decided before it
        if any(n in out for n in stage.needs):
            out.add(stage.name)
    return out
