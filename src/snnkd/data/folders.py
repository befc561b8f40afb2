"""Datasets read from a folder of files (FSDD's WAVs, N-MNIST's event files), not from an archive.

A :class:`FolderDataset` names its folder key (``fsdd``, ``nmnist-small``), the
files it reads (glob patterns) and ``prepare(folder) -> Prepared``. The folder
is, first found: the suite's ``sources.<key>`` (``params.yaml``), the
environment variable ``SNNKD_<KEY>_DIR`` (``SNNKD_FSDD_DIR``,
``SNNKD_NMNIST_SMALL_DIR``), or ``<data_dir>/raw/<key>/``. None of them is a
:class:`~snnkd.core.config.RunConfig` field, so no run identity depends on where the
files lie, only on what they hold.

:func:`stage` fingerprints the folder (SHA-256 over every read file's name and
content), prepares tensors under ``data/prepared/<name>/`` and records the
fingerprint in their manifest; staging again with a changed file prepares them
again, so the ``data`` stage's ``splits.json`` (which hashes the tensors)
changes and DVC re-runs what depends on it. An absent folder is one line
naming the dataset, the path and where to get the files; a file that cannot be
read (a truncated WAV, an event file of the wrong size) is one line naming the
file, raised before anything is written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snnkd.data.archives import file_digest, raw_dir
from snnkd.data.registry import DATASETS, DatasetInfo, DatasetSpec, Splits
from snnkd.data.staging import (
    Prepared,
    TransformFactory,
    manifest,
    preparation_threads,
    read,
    save,
    tensors_path,
)
from snnkd.errors import ConfigError


@dataclass(frozen=True)
class FolderDataset:
    """A dataset prepared from the files of one folder: ``prepare(folder) -> Prepared``."""

    info: DatasetInfo
    folder: str  # the folder's key: sources.<key>, SNNKD_<KEY>_DIR, data/raw/<key>
    patterns: tuple[str, ...]  # the files read (and fingerprinted), relative to the folder
    get: str  # where a user gets the files
    prepare: Callable[[Path], Prepared]
    transform: TransformFactory = lambda _: (None, False)


FOLDERS: dict[str, FolderDataset] = {}


def register(ds: FolderDataset) -> FolderDataset:
    """Add a folder dataset to the dataset registry."""
    name = ds.info.name
    FOLDERS[name] = ds
    DATASETS.register(name, DatasetSpec(ds.info, lambda d, n=name: load(n, d), lambda d, n=name: state(n, d)))
    return ds


def env_var(key: str) -> str:
    """``fsdd`` -> ``SNNKD_FSDD_DIR``, ``nmnist-small`` -> ``SNNKD_NMNIST_SMALL_DIR``."""
    return f"SNNKD_{key.upper().replace('-', '_')}_DIR"


def source(name: str, data_dir: Path | str = "data", given: str | Path | None = None) -> Path:
    """The folder of ``name``: ``given`` (a suite's ``sources``), else the environment, else data/raw."""
    key = FOLDERS[name].folder
    if given is not None:
        return Path(given)
    env = os.environ.get(env_var(key))
    return Path(env) if env else raw_dir(Path(data_dir), key)


def missing_message(name: str, folder: Path) -> str:
    """The one line for an absent folder: dataset, path, where to get the files, how to point at them."""
    ds = FOLDERS[name]
    return (
        f"dataset {name}: folder {folder} is absent; get {ds.get} and put them there, "
        f"or point sources.{ds.folder} in params.yaml (or {env_var(ds.folder)}) at them"
    )


def require(name: str, data_dir: Path | str = "data", given: str | Path | None = None) -> Path:
    """The dataset's folder, or a :class:`ConfigError` (exit 2) when it is absent."""
    folder = source(name, data_dir, given)
    if not folder.is_dir():
        raise ConfigError(missing_message(name, folder))
    return folder


def files(name: str, folder: Path) -> list[Path]:
    """The files dataset ``name`` reads from ``folder``, sorted by name."""
    return sorted({p for pattern in FOLDERS[name].patterns for p in folder.glob(pattern) if p.is_file()})


def fingerprint(folder: Path, paths: list[Path]) -> str:
    """SHA-256 over the files' relative names and their contents' SHA-256, in name order."""
    h = hashlib.sha256()
    for path in paths:
        h.update(f"{path.relative_to(folder).as_posix()}\0{file_digest(path, 'sha256')}\n".encode())
    return h.hexdigest()


def stage(name: str, data_dir: Path | str = "data", given: str | Path | None = None) -> Path:
    """Prepare ``name``'s tensors from its folder unless they were made from the same files; their path."""
    data_dir = Path(data_dir)
    ds = FOLDERS[name]
    folder = require(name, data_dir, given)
    paths = files(name, folder)
    if not paths:
        raise ConfigError(f"dataset {name}: folder {folder} holds no {', '.join(ds.patterns)} files")
    digest = fingerprint(folder, paths)
    meta = manifest(data_dir, name)
    if meta is not None and meta.get("fingerprint") == digest:
        return tensors_path(data_dir, name)
    with preparation_threads():  # the bytes depend on the thread count
        prepared = ds.prepare(folder)  # raises on an unreadable file: nothing is written
    return save(
        data_dir, ds.info, prepared, {"folder": str(folder), "fingerprint": digest, "files": len(paths)}
    )


def state(name: str, data_dir: Path) -> str:
    """``present`` when prepared tensors or the folder are there, else ``absent``."""
    return "present" if manifest(data_dir, name) is not None or source(name, data_dir).is_dir() else "absent"


def load(name: str, data_dir: Path | str = "data") -> Splits:
    """The splits of ``name``: its prepared tensors (prepared from the folder when absent)."""
    data_dir = Path(data_dir)
    if manifest(data_dir, name) is None:
        stage(name, data_dir)
    return read(data_dir, FOLDERS[name].info, FOLDERS[name].transform)
