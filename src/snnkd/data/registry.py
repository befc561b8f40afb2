"""The dataset registry: each entry knows its shape and how to produce splits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from snnkd.core.registry import Registry

Modality = Literal["image", "sequence", "audio", "events"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder needs to know about a dataset."""

    name: str
    modality: Modality
    input_shape: tuple[int, ...]  # per sample, without batch or time
    num_classes: int
    description: str
    embedded: bool  # produced locally, nothing to download
    source: str = ""  # where the data come from (a package, a URL, a repository)
    licence: str = ""  # the data's licence, where it is stated


@dataclass
class Split:
    """Samples of one split as tensors: ``x [N, ...]`` float32, ``y [N]`` int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


BatchTransform = Callable[[torch.Tensor, bool, "torch.Generator | None"], torch.Tensor]


@dataclass
class Splits:
    """The three splits of a dataset.

    ``transform(x, train, generator)``, when set, turns a stored batch (uint8
    images, say) into model input, with augmentation when ``train`` is true;
    ``augments`` tells whether it changes inputs from one epoch to the next
    (which switches the teacher-knowledge cache off).
    """

    info: DatasetInfo
    train: Split
    val: Split
    test: Split
    transform: BatchTransform | None = None
    augments: bool = False

    def batch(self, x: torch.Tensor, train: bool, generator=None) -> torch.Tensor:
        return x if self.transform is None else self.transform(x, train, generator)


@dataclass(frozen=True)
class DatasetSpec:
    info: DatasetInfo
    load: Callable[[Path], Splits]
    state: Callable[[Path], str]  # "embedded", "present" or "absent"


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def load_splits(name: str, data_dir: str | Path = "data") -> Splits:
    """Splits of dataset ``name``, always the same for a given dataset.

    Loaded once per process (tuning trials and tests build many runs on one
    dataset); the tensors are only ever read.
    """
    return _load_splits(name, str(Path(data_dir).resolve()))


@functools.lru_cache(maxsize=4)
def _load_splits(name: str, data_dir: str) -> Splits:
    return DATASETS.get(name, field="dataset").load(Path(data_dir))


def stratified_split(y: torch.Tensor, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """Indices of stratified splits with the given fractions (last takes the rest)."""
    from sklearn.model_selection import train_test_split

    idx = torch.arange(len(y)).numpy()
    labels = y.numpy()
    parts: list[torch.Tensor] = []
    rest, rest_y, left = idx, labels, 1.0
    for frac in fractions[:-1]:
        take, rest, _, rest_y = train_test_split(
            rest, rest_y, train_size=frac / left, stratify=rest_y, random_state=seed
        )
        parts.append(torch.as_tensor(sorted(take)))
        left -= frac
    parts.append(torch.as_tensor(sorted(rest)))
    return parts
