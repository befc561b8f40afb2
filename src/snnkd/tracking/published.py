"""Published run files read back for the leaderboard, each checked before any number is used.

A run folder (``results/<suite>/runs/<dataset>/<method>/seed<k>/`` or a reference network's) holds
``metrics.json``, ``run.json`` and ``curve.csv`` (:mod:`snnkd.evaluation.run_files`). Files are edited,
truncated or merged by hand in a clone, so :func:`read_run` checks what the leaderboard reads:

* both JSON files parse (UTF-8) and hold an object;
* ``metrics.json`` holds numbers only: every value finite (``null``, which is how a non-finite
  number is written, is damage), ``test_accuracy`` and (a method run's) ``spikes_per_sample`` present, each
  number in its range (:data:`RANGES`: accuracies and firing rates in [0, 1], counts >= 0,
  bit widths >= 1), ``firing_rate_per_layer`` rates in [0, 1] and the ``neurobench`` block
  numbers or one level of named numbers;
* ``run.json`` has a string ``identity`` and a ``teacher`` that is ``null`` or holds a string
  ``sha256`` (the run key is made of the two);
* ``curve.csv``, when present, parses with a numeric ``epoch`` column and validation accuracies
  in [0, 1].

A damaged run raises :class:`DamagedRun` naming the file and the field; the leaderboard leaves
it out and lists it (it is never published as, say, 750 % accuracy).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from snnkd.errors import SnnkdError
from snnkd.evaluation.run_files import CURVE_FILE, METRICS_FILE, RUN_FILE, is_number

INF = math.inf
#: value ranges of metrics.json's numbers, closed intervals; any other number must be finite
RANGES: dict[str, tuple[float, float]] = {
    "test_accuracy": (0.0, 1.0),
    "val_accuracy": (0.0, 1.0),
    "firing_rate": (0.0, 1.0),
    "spikes_per_sample": (0.0, INF),
    "synops": (0.0, INF),
    "macs": (0.0, INF),
    "energy_pj": (0.0, INF),
    "params": (0.0, INF),
    "neurons": (0.0, INF),
    "model_size_bits": (0.0, INF),
    "weight_bits": (1.0, INF),
    "membrane_bits": (1.0, INF),
    "epochs": (1.0, INF),
    "max_epochs": (1.0, INF),
    "best_epoch": (0.0, INF),
}
REQUIRED = ("test_accuracy", "spikes_per_sample")  # a method run's; a reference network needs an accuracy
NETWORK_REQUIRED = ("test_accuracy",)


class DamagedRun(SnnkdError):
    """A published run file that cannot be read or holds a value outside its range."""

    exit_code = 2


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; anything else (empty, truncated, not UTF-8) is :class:`DamagedRun`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise DamagedRun(f"{path.name}: not UTF-8 text ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise DamagedRun(f"{path.name}: not valid JSON ({err.msg}, line {err.lineno})") from None
    except OSError as err:
        raise DamagedRun(f"{path.name}: cannot read ({err.strerror or err})") from None
    if not isinstance(data, dict):
        raise DamagedRun(f"{path.name}: must hold an object, not {type(data).__name__}")
    return data


def _number(where: str, value: Any, low: float = -INF, high: float = INF) -> float:
    if not is_number(value) or not math.isfinite(value):
        raise DamagedRun(f"{where}: {value!r} is not a finite number")
    if not low <= value <= high:
        raise DamagedRun(f"{where}: {value!r} is outside [{low:g}, {high:g}]")
    return float(value)


def check_numbers(
    values: dict[str, Any], where: str = METRICS_FILE, required: tuple[str, ...] = REQUIRED
) -> None:
    """Every number of ``values`` finite and in its :data:`RANGES` range; the ``required`` ones present."""
    for name in required:
        if name not in values:
            raise DamagedRun(f"{where}: {name}: missing")
    for name, value in values.items():
        if name == "firing_rate_per_layer":
            _named_numbers(f"{where}: {name}", value, 0.0, 1.0)
        elif name == "neurobench":
            if not isinstance(value, dict):
                raise DamagedRun(f"{where}: {name}: must hold an object")
            for key, item in value.items():
                if isinstance(item, dict):
                    _named_numbers(f"{where}: {name}.{key}", item)
                else:
                    _number(f"{where}: {name}.{key}", item)
        else:
            _number(f"{where}: {name}", value, *RANGES.get(name, (-INF, INF)))


def _named_numbers(where: str, value: Any, low: float = -INF, high: float = INF) -> None:
    if not isinstance(value, dict):
        raise DamagedRun(f"{where}: must hold an object of numbers")
    for key, item in value.items():
        _number(f"{where}.{key}", item, low, high)


def check_record(record: dict[str, Any]) -> None:
    """``run.json``'s identity and teacher, the two parts of the run key."""
    identity = record.get("identity")
    if not isinstance(identity, str) or not identity:
        raise DamagedRun(f"{RUN_FILE}: identity: {identity!r} is not a run identity")
    teacher = record.get("teacher")
    if teacher is not None and not (isinstance(teacher, dict) and isinstance(teacher.get("sha256"), str)):
        raise DamagedRun(f"{RUN_FILE}: teacher: must be null or hold the teacher's sha256")


def check_curve(path: Path) -> None:
    """``curve.csv`` parses; its epochs are numbers and its validation accuracies lie in [0, 1]."""
    import pandas as pd

    try:
        curve = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DamagedRun(f"{CURVE_FILE}: not a readable CSV table ({first})") from None
    for column, (low, high) in (("epoch", (1.0, INF)), ("val_accuracy", (0.0, 1.0))):
        if column not in curve:
            continue
        values = pd.to_numeric(curve[column], errors="coerce")
        bad = curve[column][values.isna() | (values < low) | (values > high)]
        if len(bad):
            why = f"{bad.iloc[0]!r} is not a number in [{low:g}, {high:g}]"
            raise DamagedRun(f"{CURVE_FILE}: {column}: {why}")


def read_metrics(folder: Path, required: tuple[str, ...] = REQUIRED) -> dict[str, Any]:
    """``folder/metrics.json``, checked (:data:`NETWORK_REQUIRED` for a reference network's)."""
    metrics = read_json(folder / METRICS_FILE)
    check_numbers(metrics, METRICS_FILE, required)
    return metrics


def read_run(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics.json, run.json)`` of a published run, every file of it checked."""
    metrics = read_metrics(folder)
    record = read_json(folder / RUN_FILE)
    check_record(record)
    if (folder / CURVE_FILE).is_file():
        check_curve(folder / CURVE_FILE)
    return metrics, record
