"""Event-camera datasets as T frames: N-MNIST, N-Caltech101, DVS Gesture.

Staging reads the verified archives in place (ATIS ``.bin`` files in the zips,
AEDAT 3.1 recordings cut by their label CSVs in the DVS Gesture tarball) and
integrates each sample's events into ``T`` frames of equal event count, the
way SpikingJelly 2's classes do with ``frames_number=T, split_by="number"``
(see :mod:`snnkd.data.events` for why their code is mirrored, not called).
Frames are stored as uint8 event counts ``[N, T, 2, H, W]`` (saturating at
255); N-Caltech101 and DVS Gesture are binned to a smaller size. The model
sees ``[T, B, 2, H, W]`` through the ``frames`` encoder, which merges adjacent
frames when a run asks for fewer steps (an ANN twin sees all events at once).
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snnkd.data import transforms
from snnkd.data.archives import Archive
from snnkd.data.events import Events, frames_by_number, read_aedat31, read_atis_bin, split_by_labels
from snnkd.data.registry import DatasetInfo, Split
from snnkd.data.staging import Prepared, RealDataset, carve, register, split_off_val


@dataclass(frozen=True)
class EventSetup:
    """How one event dataset becomes frames."""

    frames: int  # T
    sensor: tuple[int, int]  # the camera's H x W
    size: tuple[int, int]  # stored H x W (events binned from the sensor's when smaller)


def to_frames(setup: EventSetup, samples: Iterator[tuple[int, Events]]) -> Split:
    """Integrate ``(label, events)`` pairs into uint8 frames ``[N, T, 2, H, W]``."""
    xs, ys = [], []
    h, w = setup.sensor
    for label, ev in samples:
        fr = frames_by_number(ev, setup.frames, h, w, setup.size)
        xs.append(torch.from_numpy(np.minimum(fr, 255).astype(np.uint8)))
        ys.append(label)
    return Split(torch.stack(xs), torch.tensor(ys, dtype=torch.int64))


def _bin_samples(zip_path: Path, top: str) -> Iterator[tuple[int, Events]]:
    """ATIS files ``<top>/<class>/<file>.bin`` of a zip; classes indexed in sorted name order
    (numeric names by value), as torchvision's ``DatasetFolder`` behind SpikingJelly does."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(top + "/") and n.endswith(".bin"))
        classes = sorted({n.split("/")[1] for n in names})
        index = {c: int(c) if c.isdigit() else i for i, c in enumerate(classes)}
        for n in names:
            yield index[n.split("/")[1]], read_atis_bin(zf.read(n))


def _gesture_samples(tar_path: Path, train: bool) -> Iterator[tuple[int, Events]]:
    with tarfile.open(tar_path, "r:gz") as tar:

        def text(name: str) -> str:
            return tar.extractfile(f"DvsGesture/{name}").read().decode()

        trials = text("trials_to_train.txt" if train else "trials_to_test.txt").split()
        for trial in trials:
            events = read_aedat31(tar.extractfile(f"DvsGesture/{trial}").read())
            yield from split_by_labels(events, text(trial.removesuffix(".aedat") + "_labels.csv"))


def _n_mnist(raw: Path, _: Path) -> Prepared:
    train = to_frames(NMNIST_SETUP, _bin_samples(raw / "Train.zip", "Train"))
    train, val = split_off_val(train, 1 / 12)  # 5,000 of 60,000
    return Prepared(train, val, to_frames(NMNIST_SETUP, _bin_samples(raw / "Test.zip", "Test")))


def _dvs_gesture(raw: Path, _: Path) -> Prepared:
    train = to_frames(GESTURE_SETUP, _gesture_samples(raw / "DvsGesture.tar.gz", True))
    train, val = split_off_val(train, 0.1)
    return Prepared(train, val, to_frames(GESTURE_SETUP, _gesture_samples(raw / "DvsGesture.tar.gz", False)))


def _n_caltech101(raw: Path, _: Path) -> Prepared:
    full = to_frames(NCALTECH_SETUP, _bin_samples(raw / "Caltech101.zip", "Caltech101"))
    rest, test = carve(full.y, 0.1)
    keep, val = carve(full.y[rest], 0.1 / 0.9)
    tr, va = rest[keep], rest[val]
    return Prepared(
        Split(full.x[tr], full.y[tr]), Split(full.x[va], full.y[va]), Split(full.x[test], full.y[test])
    )


def _info(name: str, setup: EventSetup, classes: int, description: str) -> DatasetInfo:
    return DatasetInfo(name, "events", (2, *setup.size), classes, description, embedded=False)


NMNIST_URL = "https://www.garrickorchard.com/datasets/n-mnist"
NCALTECH_URL = "https://www.garrickorchard.com/datasets/n-caltech101"
GESTURE_URL = "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794"

NMNIST_SETUP = EventSetup(10, (34, 34), (34, 34))
NCALTECH_SETUP = EventSetup(10, (180, 240), (48, 48))
GESTURE_SETUP = EventSetup(16, (128, 128), (64, 64))

# MD5s as published in SpikingJelly's ``resource_url_md5``; the hosts need a browser: no automatic download.
N_MNIST = register(
    RealDataset(
        _info("n-mnist", NMNIST_SETUP, 10, "N-MNIST, T=10 frames 2x34x34 (event counts); 55k/5k/10k"),
        (
            Archive("Train.zip", NMNIST_URL, "20959b8e626244a1b502305a9e6e2031", downloadable=False),
            Archive("Test.zip", NMNIST_URL, "69ca8762b2fe404d9b9bad1103e97832", downloadable=False),
        ),
        _n_mnist,
        transforms.frames,
    )
)
N_CALTECH101 = register(
    RealDataset(
        _info(
            "n-caltech101",
            NCALTECH_SETUP,
            101,
            "N-Caltech101, T=10 frames 2x48x48 (binned); 80/10/10 % per class",
        ),
        (Archive("Caltech101.zip", NCALTECH_URL, "66201824eabb0239c7ab992480b50ba3", downloadable=False),),
        _n_caltech101,
        transforms.frames,
    )
)
DVS_GESTURE = register(
    RealDataset(
        _info(
            "dvs-gesture", GESTURE_SETUP, 11, "DVS128 Gesture, T=16 frames 2x64x64 (binned); official test"
        ),
        (Archive("DvsGesture.tar.gz", GESTURE_URL, "8a5c71fb11e24e5ca5b11866ca6c00a1", downloadable=False),),
        _dvs_gesture,
        transforms.frames,
    )
)
