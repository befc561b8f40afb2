"""Hand-written suite results folders: ``<results>/runs/<dataset>/<name>/seed<k>/`` with the
``metrics.json`` and ``run.json`` numbers a test chooses (no training)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_run(
    results: Path,
    dataset: str,
    name: str,
    seed: int,
    config: dict[str, Any] | None = None,
    teacher: dict[str, Any] | None = None,
    **metrics: Any,
) -> Path:
    """One run folder; ``metrics`` default to a run with 90 % accuracy and 100 spikes per sample."""
    folder = results / "runs" / dataset / name / f"seed{seed}"
    folder.mkdir(parents=True)
    values = {"test_accuracy": 0.9, "val_accuracy": 0.9, "spikes_per_sample": 100.0, **metrics}
    (folder / "metrics.json").write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    cfg = {"method": name, "seed": seed, "dataset": dataset, **(config or {})}
    record = {"config": cfg, "identity": f"{dataset}-{name}-{seed}", "teacher": teacher}
    (folder / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return folder


def write_method(
    results: Path, dataset: str, name: str, column: str, values: list[float], **common: Any
) -> None:
    """Seeds ``0 … len(values)−1`` of one run name, ``column`` set to ``values`` seed by seed."""
    for seed, value in enumerate(values):
        write_run(results, dataset, name, seed, **{**common, column: value})


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (to check that a refused command wrote nothing)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
