"""``nmnist-small``: 1,100 real N-MNIST recordings (Orchard et al., Frontiers in Neuroscience 2015).

Read from a folder holding the first 1,000 training samples (``1.bs2`` ...
``1000.bs2``, labels in ``train1K.txt``) and the first 100 test samples
(``60001.bs2`` ... ``60100.bs2``, labels in ``test100.txt``) of N-MNIST, as
slayerPytorch's ``test/test_files/NMNISTsmall/`` ships them (CC BY-SA 4.0).
Label files are tab-separated ``sample class`` lines after one header line.
A ``.bs2`` file is N-MNIST's original 40-bit ATIS format (5 bytes an event:
x, y, polarity bit and a 23-bit microsecond timestamp), read by
:func:`snnkd.data.events.read_atis_bin` (tonic with the ``[events]`` extra);
every sample becomes ``T = 10`` frames ``2 x 34 x 34`` of equal event count, as
``n-mnist``'s do.

A file whose size is not a multiple of 5 bytes, or with an address outside
the 34 x 34 sensor (N-MNIST's 300 ms samples carry no timestamp-overflow rows,
``y = 240``; one is reported as out of range), is a one-line error naming it.

The split pools the 1,100 samples (100 official test samples give 1-point
accuracy steps) and stratifies them by class, 60/20/20 with a fixed seed as for
``digits`` and ``mnist-5k``: 660 train, 220 validation, 220 test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from snnkd.data import transforms
from snnkd.data.events import Events, read_atis_bin
from snnkd.data.folders import FolderDataset, register
from snnkd.data.neuromorphic import NMNIST_SETUP, to_frames
from snnkd.data.registry import DatasetInfo, Split, stratified_split
from snnkd.data.staging import Prepared
from snnkd.errors import ConfigError

LABELS = ("train1K.txt", "test100.txt")
SPLIT_SEED = 0
SOURCE = "github.com/bamsumit/slayerPytorch (folder test/test_files/NMNISTsmall/)"
LICENCE = "CC BY-SA 4.0 (N-MNIST); cite Orchard, Jayawant, Cohen and Thakor 2015"


def labels(folder: Path) -> list[tuple[int, int]]:
    """``(sample, class)`` pairs of both label files, in file order."""
    pairs = []
    for name in LABELS:
        path = folder / name
        if not path.is_file():
            raise ConfigError(f"dataset nmnist-small: {path} is absent (labels of the .bs2 files)")
        try:
            rows = np.loadtxt(path, dtype=np.int64, delimiter="\t", skiprows=1, ndmin=2)
        except ValueError as err:
            raise ConfigError(f"{path}: not a 'sample<TAB>class' list ({err})") from None
        if rows.size and (rows.shape[1] != 2 or rows[:, 1].min() < 0 or rows[:, 1].max() > 9):
            raise ConfigError(f"{path}: expected 'sample<TAB>class' rows with classes 0-9")
        pairs += [(int(s), int(c)) for s, c in rows]
    return pairs


def read_sample(path: Path, sensor: tuple[int, int] = NMNIST_SETUP.sensor) -> Events:
    """The events of one ``.bs2`` file, after checking its size and addresses."""
    if not path.is_file():
        raise ConfigError(f"dataset nmnist-small: {path} is absent (listed in its label file)")
    data = path.read_bytes()
    if len(data) % 5 or not data:
        raise ConfigError(f"{path}: {len(data)} bytes, not a whole number of 5-byte N-MNIST events")
    raw = np.frombuffer(data, dtype=np.uint8)
    h, w = sensor
    bad = (raw[0::5] >= w) | (raw[1::5] >= h)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(
            f"{path}: event {i} has address x={raw[5 * i]}, y={raw[5 * i + 1]} outside the {w} x {h} sensor"
        )
    return read_atis_bin(data)


def _samples(folder: Path, pairs: list[tuple[int, int]]) -> Iterator[tuple[int, Events]]:
    for sample, label in pairs:
        yield label, read_sample(folder / f"{sample}.bs2")


def _prepare(folder: Path) -> Prepared:
    full = to_frames(NMNIST_SETUP, _samples(folder, labels(folder)))
    train, val, test = stratified_split(full.y, (0.6, 0.2, 0.2), SPLIT_SEED)
    return Prepared(*(Split(full.x[i], full.y[i]) for i in (train, val, test)))


NMNIST_SMALL = register(
    FolderDataset(
        DatasetInfo(
            "nmnist-small",
            "events",
            (2, *NMNIST_SETUP.size),
            10,
            "1,100 real N-MNIST recordings, T=10 frames 2x34x34; pooled, stratified 660/220/220",
            False,
            source=SOURCE,
            licence=LICENCE,
        ),
        "nmnist-small",
        ("*.bs2", *LABELS),
        f"N-MNIST's first 1,000 train and 100 test .bs2 files with train1K.txt and test100.txt from {SOURCE}",
        _prepare,
        transforms.frames,
    )
)
