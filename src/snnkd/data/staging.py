"""Staging of real datasets: verified raw archives -> tensors under ``data/prepared/``.

A :class:`RealDataset` names its archives and two functions: ``prepare`` reads
the verified archives into three :class:`~snnkd.data.registry.Split` objects
(compact dtypes such as uint8) plus statistics, and ``transform`` turns those
statistics into the batch transform the trainer applies. :func:`stage` writes
``data/prepared/<name>/tensors.pt`` (loaded memory-mapped, so even
Tiny-ImageNet costs no more RAM than the batches in use) and a manifest with
the archives' SHA-256. Loading a dataset whose tensors are absent stages it
from ``data/raw/<name>/`` without any network; only ``snnkd stage`` downloads.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnkd.core.atomic import atomic_text
from snnkd.data.archives import Archive, ensure, raw_dir
from snnkd.data.registry import DATASETS, BatchTransform, DatasetInfo, DatasetSpec, Split, Splits
from snnkd.errors import ConfigError

FORMAT_VERSION = 1
#: CPU threads every preparation computes with, whatever the process's own count. Prepared bytes
#: depend on it: fsdd's MFCCs (librosa's mel projection, an OpenBLAS sgemm) are other bytes with 1
#: thread than with 2, so a training process (1 thread) preparing them in a fresh workspace (an
#: ``snnkd scale`` worker) trained on other data than the data stage had recorded. 2 is the thread
#: count the committed splits were prepared with (2-core machines, torch's and OpenBLAS's default).
PREPARE_THREADS = 2
SPLIT_SEED = 0  # validation samples carved from the train split: the same for every run


@dataclass
class Prepared:
    """What ``prepare`` returns: the three splits and statistics for the transform."""

    train: Split
    val: Split
    test: Split
    stats: dict[str, Any] = field(default_factory=dict)


TransformFactory = Callable[[dict[str, Any]], tuple[BatchTransform | None, bool]]


@dataclass(frozen=True)
class RealDataset:
    """A dataset read from archives: ``prepare(raw_dir, work_dir) -> Prepared``."""

    info: DatasetInfo
    archives: tuple[Archive, ...]
    prepare: Callable[[Path, Path], Prepared]
    transform: TransformFactory = lambda _: (None, False)


REAL: dict[str, RealDataset] = {}


def register(ds: RealDataset) -> RealDataset:
    """Add a real dataset to the dataset registry (and to the staging table)."""
    name = ds.info.name
    REAL[name] = ds
    DATASETS.register(
        name,
        DatasetSpec(ds.info, lambda d, n=name: load(n, d), lambda d, n=name: state(n, d)),
    )
    return ds


def prepared_dir(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "prepared" / name


def tensors_path(data_dir: Path, name: str) -> Path:
    return prepared_dir(data_dir, name) / "tensors.pt"


def manifest(data_dir: Path, name: str) -> dict[str, Any] | None:
    path = prepared_dir(data_dir, name) / "manifest.json"
    if not path.is_file() or not tensors_path(data_dir, name).is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("format_version") == FORMAT_VERSION else None


def state(name: str, data_dir: Path) -> str:
    """``present`` when prepared tensors or all raw archives are there, else ``absent``."""
    ds = REAL[name]
    raw = raw_dir(data_dir, name)
    if manifest(data_dir, name) is not None or all(a.path(raw).is_file() for a in ds.archives):
        return "present"
    return "absent"


@contextmanager
def preparation_threads() -> Iterator[None]:
    """Compute with :data:`PREPARE_THREADS` torch and BLAS threads inside; the counts before, after."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(PREPARE_THREADS)
    try:
        with threadpool_limits(limits=PREPARE_THREADS):
            yield
    finally:
        torch.set_num_threads(before)


def stage(
    name: str, data_dir: Path | str = "data", *, download: bool = True, force: bool = False, show: bool = True
) -> Path:
    """Verify (downloading if allowed and absent) the archives and prepare tensors; returns their path."""
    if name not in REAL:
        valid = ", ".join(sorted(REAL))
        raise ConfigError(f"dataset: '{name}' has no archives to stage; valid choices: {valid}")
    data_dir = Path(data_dir)
    ds, out = REAL[name], tensors_path(data_dir, name)
    if not force and manifest(data_dir, name) is not None:
        return out
    raw = raw_dir(data_dir, name)
    digests = {a.filename: ensure(a, raw, download_missing=download, show=show) for a in ds.archives}
    folder = prepared_dir(data_dir, name)
    work = folder / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with preparation_threads():
            prepared = ds.prepare(raw, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return save(data_dir, ds.info, prepared, {"archives_sha256": digests})


def save(data_dir: Path, info: DatasetInfo, prepared: Prepared, record: dict[str, Any]) -> Path:
    """Check ``prepared`` and write its tensors and a manifest (with ``record``, what it was made from)."""
    _check(info, prepared)
    name, out = info.name, tensors_path(data_dir, info.name)
    blob = {
        f"{split}_{part}": getattr(getattr(prepared, split), part).contiguous()
        for split in ("train", "val", "test")
        for part in ("x", "y")
    }
    blob["stats"] = prepared.stats
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(out)
    meta = {
        "format_version": FORMAT_VERSION,
        "dataset": name,
        **record,
        "sizes": {s: len(getattr(prepared, s)) for s in ("train", "val", "test")},
        "x_dtype": str(prepared.train.x.dtype),
        "sample_shape": list(prepared.train.x.shape[1:]),
    }
    atomic_text(prepared_dir(data_dir, name) / "manifest.json", json.dumps(meta, indent=2, sort_keys=True))
    return out


def _check(info: DatasetInfo, p: Prepared) -> None:
    for split in ("train", "val", "test"):
        s: Split = getattr(p, split)
        if len(s.x) != len(s.y) or len(s) == 0:
            raise ConfigError(f"dataset {info.name}: the {split} split is empty or ragged")
        if int(s.y.max()) >= info.num_classes or int(s.y.min()) < 0:
            raise ConfigError(f"dataset {info.name}: {split} labels outside 0..{info.num_classes - 1}")


def load(name: str, data_dir: Path | str = "data") -> Splits:
    """The splits of a staged dataset (staged offline from ``data/raw`` on first use)."""
    data_dir = Path(data_dir)
    ds = REAL[name]
    if manifest(data_dir, name) is None:
        stage(name, data_dir, download=False, show=False)
    return read(data_dir, ds.info, ds.transform)


def read(data_dir: Path, info: DatasetInfo, transform: TransformFactory) -> Splits:
    """The splits :func:`save` wrote, memory-mapped, with the dataset's batch transform."""
    blob = torch.load(tensors_path(data_dir, info.name), mmap=True, weights_only=True)
    splits = [Split(blob[f"{s}_x"], blob[f"{s}_y"]) for s in ("train", "val", "test")]
    batch_transform, augments = transform(blob["stats"])
    return Splits(info, *splits, transform=batch_transform, augments=augments)


def carve(y: torch.Tensor, fraction: float, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices per class: ``fraction`` of each class (at least one) goes to the second part.

    Deterministic for a given ``seed``; both parts are sorted.
    """
    gen = torch.Generator().manual_seed(seed)
    keep, take = [], []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n = max(1, round(fraction * len(idx))) if len(idx) > 1 else 0
        take.append(idx[:n])
        keep.append(idx[n:])
    return torch.cat(keep).sort().values, torch.cat(take).sort().values


def split_off_val(train: Split, fraction: float) -> tuple[Split, Split]:
    """Carve a stratified validation split out of an official train split."""
    keep, val = carve(train.y, fraction)
    return Split(train.x[keep], train.y[keep]), Split(train.x[val], train.y[val])


def cmd_stage(args: argparse.Namespace) -> int:
    """``snnkd stage DATASET ...``: verify or fetch archives, prepare tensors."""
    for name in args.datasets:
        path = stage(name, args.data_dir, download=not args.offline, force=args.force)
        print(f"{name}: {path}")
    return 0
