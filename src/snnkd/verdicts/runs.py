"""A suite's published runs read back for a verdict: ``<results>/runs/<dataset>/<name>/seed<k>/``.

Every run's ``metrics.json`` (and, where asked, ``run.json``) is checked first by
:mod:`snnkd.tracking.published`; a damaged file is a one-line error naming it, never a number in a table.
A results folder that is missing, or holds no run, is a :class:`~snnkd.errors.ConfigError`
(exit code 2) before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snnkd.errors import ConfigError
from snnkd.evaluation.run_files import METRICS_FILE, RUN_FILE
from snnkd.tracking.published import DamagedRun, read_json, read_metrics

RUNS = "runs"
#: ``(dataset, run name) -> {seed: record}``
Runs = dict[tuple[str, str], dict[int, dict[str, Any]]]


def runs_folder(results: Path, flag: str = "--results") -> Path:
    """``<results>/runs``, which must exist; ``flag`` names the argument in the error."""
    folder = Path(results) / RUNS
    if not Path(results).is_dir():
        raise ConfigError(f"{flag}: no folder {results}")
    if not folder.is_dir():
        raise ConfigError(f"{flag}: no {RUNS}/ folder in {results} (a suite's results folder holds {folder})")
    return folder


def _seed_folders(folder: Path) -> list[tuple[str, str, int, Path]]:
    found = []
    for path in sorted(folder.glob(f"*/*/seed*/{METRICS_FILE}")):
        seed = path.parent.name.removeprefix("seed")
        if seed.isdigit():
            found.append((path.parts[-4], path.parts[-3], int(seed), path.parent))
    return found


def load(results: Path, flag: str = "--results", with_record: bool = False) -> Runs:
    """Every run under ``<results>/runs``: ``metrics.json`` (with ``with_record``, also ``run.json``
    under the key ``"run"``), by ``(dataset, name)`` then seed, in sorted path order."""
    folder = runs_folder(results, flag)
    out: Runs = {}
    for dataset, name, seed, path in _seed_folders(folder):
        try:
            record = read_metrics(path)
            if with_record:
                record = {**record, "run": read_json(path / RUN_FILE)}
        except DamagedRun as err:
            raise DamagedRun(f"{flag}: {path}: {err}") from None
        out.setdefault((dataset, name), {})[seed] = record
    if not out:
        raise ConfigError(f"{flag}: no run in {folder} (expected <dataset>/<name>/seed<k>/{METRICS_FILE})")
    return out
