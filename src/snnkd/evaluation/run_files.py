"""A finished run's files: ``metrics.json`` (numbers only), ``run.json`` (what produced them), ``curve.csv``.

``metrics.json`` holds the scalar results, the per-layer firing rates and the
``neurobench`` block (a few dozen values, so ``dvc metrics show`` fits on a screen); ``run.json`` holds
the resolved configuration, identity, method, hyper-parameters, loss terms,
teacher and device; ``curve.csv`` holds one row per epoch. ``metrics.json`` is
written last: its presence marks a finished run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from snnkd.core.atomic import atomic_text

METRICS_FILE = "metrics.json"
RUN_FILE = "run.json"
CURVE_FILE = "curve.csv"
FILES = (RUN_FILE, CURVE_FILE, METRICS_FILE)  # in writing order
# {layer: rate} and NeuroBench 2.3's metrics by its names: metrics, though not scalars
NESTED_METRICS = ("firing_rate_per_layer", "neurobench")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# wall-clock measurements differ between identical runs: MLflow keeps them, the committed files do not,
# so that a fresh `dvc repro` reproduces metrics.json, curve.csv and the leaderboard byte for byte
TIMINGS = ("train_seconds", "latency_ms_per_sample", "epoch_seconds")


def split(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics.json, run.json)`` contents of a run's result dict; the epoch history and the timings
    are left out of both."""
    kept = {k: v for k, v in metrics.items() if k not in TIMINGS and k != "history"}
    numbers = {k: v for k, v in kept.items() if is_number(v) or k in NESTED_METRICS}
    record = {k: v for k, v in kept.items() if k not in numbers}
    return numbers, record


def curve(history: list[dict[str, float]]) -> str:
    """The epoch history as CSV, ``epoch`` first."""
    import pandas as pd

    frame = pd.DataFrame(history)
    cols = ["epoch"] + [c for c in frame.columns if c != "epoch" and c not in TIMINGS]
    return frame[cols].to_csv(index=False, float_format="%.6g")


def write(out_dir: Path, metrics: dict[str, Any]) -> list[Path]:
    """Write ``run.json``, ``curve.csv`` (when there is a history) and, last, ``metrics.json``."""
    numbers, record = split(metrics)
    atomic_text(out_dir / RUN_FILE, _dumps(record))
    written = [out_dir / RUN_FILE]
    if metrics.get("history"):
        atomic_text(out_dir / CURVE_FILE, curve(metrics["history"]))
        written.append(out_dir / CURVE_FILE)
    atomic_text(out_dir / METRICS_FILE, _dumps(numbers))
    return [*written, out_dir / METRICS_FILE]


def read_record(out_dir: Path) -> dict[str, Any]:
    """A published run's ``run.json``."""
    return json.loads((out_dir / RUN_FILE).read_text())


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, tuple | set):
        return list(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj)
