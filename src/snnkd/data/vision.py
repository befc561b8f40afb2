"""Image datasets read from their original archives: MNIST, Fashion-MNIST, CIFAR-10/100, Tiny-ImageNet.

Images are stored as uint8 ``[N, C, H, W]``; the batch transform scales them
to [0, 1] and, for the colour sets, normalises with the train split's
per-channel mean and standard deviation (computed at staging). CIFAR and
Tiny-ImageNet training batches get the usual random crop (4-pixel zero
padding) and horizontal flip. The official test split is the test split; a
stratified validation split is carved from the official train split (for
Tiny-ImageNet the labelled ``val`` folder serves as test, its test folder has
no labels).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkd.data import transforms
from snnkd.data.archives import Archive
from snnkd.data.registry import DatasetInfo, Split
from snnkd.data.staging import Prepared, RealDataset, register, split_off_val
from snnkd.errors import ConfigError

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)
FASHION_MD5 = (
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
)


def read_idx_gz(path: Path) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (the MNIST format) into an array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim, dtype = magic % 256, magic // 256
    if dtype != 0x08 or not 1 <= ndim <= 3:
        raise ConfigError(f"archive {path} is not an IDX file of unsigned bytes (magic {magic:#x})")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_prepare(raw: Path, _: Path) -> Prepared:
    x_tr, y_tr, x_te, y_te = (read_idx_gz(raw / f) for f in IDX_FILES)
    train = Split(torch.from_numpy(x_tr.copy()).unsqueeze(1), torch.from_numpy(y_tr.astype(np.int64)))
    test = Split(torch.from_numpy(x_te.copy()).unsqueeze(1), torch.from_numpy(y_te.astype(np.int64)))
    train, val = split_off_val(train, 1 / 12)  # 5,000 of 60,000
    return Prepared(train, val, test)


def channel_stats(x: torch.Tensor, chunk: int = 8192) -> dict[str, Any]:
    """Per-channel mean and std of uint8 images ``[N, C, H, W]`` scaled to [0, 1]."""
    s = torch.zeros(x.shape[1], dtype=torch.float64)
    s2 = torch.zeros_like(s)
    for i in range(0, len(x), chunk):
        part = x[i : i + chunk].to(torch.float64) / 255.0
        s += part.sum((0, 2, 3))
        s2 += (part**2).sum((0, 2, 3))
    n = len(x) * x.shape[2] * x.shape[3]
    mean = s / n
    std = (s2 / n - mean**2).clamp_min(1e-12).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist()}


def _normalised(crop_pad: int):
    def factory(stats: dict[str, Any]):
        return transforms.image(stats["mean"], stats["std"], crop_pad)

    return factory


def _unpickle(tar: tarfile.TarFile, member: str) -> dict[str, Any]:
    f = tar.extractfile(member)
    if f is None:
        raise ConfigError(f"archive {tar.name} has no file {member}")
    return pickle.load(f, encoding="latin1")


def _cifar(raw: Path, filename: str, train_members: list[str], test_member: str, key: str) -> Prepared:
    with tarfile.open(raw / filename, "r:gz") as tar:
        parts = [_unpickle(tar, m) for m in train_members]
        test_d = _unpickle(tar, test_member)

    def to_split(ds: list[dict[str, Any]]) -> Split:
        x = np.concatenate([d["data"] for d in ds]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(d[key], dtype=np.int64) for d in ds])
        return Split(torch.from_numpy(x.copy()), torch.from_numpy(y))

    train, test = to_split(parts), to_split([test_d])
    train, val = split_off_val(train, 0.1)  # 5,000 of 50,000
    return Prepared(train, val, test, channel_stats(train.x))


def _cifar10(raw: Path, _: Path) -> Prepared:
    members = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    return _cifar(raw, "cifar-10-python.tar.gz", members, "cifar-10-batches-py/test_batch", "labels")


def _cifar100(raw: Path, _: Path) -> Prepared:
    return _cifar(
        raw, "cifar-100-python.tar.gz", ["cifar-100-python/train"], "cifar-100-python/test", "fine_labels"
    )


def decode_image(data: bytes, size: int = 64) -> torch.Tensor:
    """A JPEG (grey or colour) as uint8 RGB ``[3, size, size]``, decoded with Pillow."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img.convert("RGB"))
    if arr.shape != (size, size, 3):
        raise ConfigError(f"tiny-imagenet: expected {size}x{size} images, got {arr.shape[:2]}")
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _tiny_imagenet(raw: Path, _: Path) -> Prepared:
    root = "tiny-imagenet-200/"
    with zipfile.ZipFile(raw / "tiny-imagenet-200.zip") as zf:
        wnids = sorted(zf.read(root + "wnids.txt").decode().split())
        label = {w: i for i, w in enumerate(wnids)}
        train_names = sorted(
            n
            for n in zf.namelist()
            if n.startswith(root + "train/") and n.endswith(".JPEG") and "/images/" in n
        )
        ann = zf.read(root + "val/val_annotations.txt").decode().splitlines()
        val_pairs = sorted((ln.split("\t")[0], ln.split("\t")[1]) for ln in ann if ln.strip())

        def read(names: list[str], labels: list[int]) -> Split:
            x = torch.empty((len(names), 3, 64, 64), dtype=torch.uint8)
            for i, n in enumerate(names):
                x[i] = decode_image(zf.read(n))
            return Split(x, torch.tensor(labels, dtype=torch.int64))

        train = read(train_names, [label[n.split("/")[2]] for n in train_names])
        test = read([root + "val/images/" + f for f, _ in val_pairs], [label[w] for _, w in val_pairs])
    train, val = split_off_val(train, 0.1)  # 50 of each class's 500
    return Prepared(train, val, test, channel_stats(train.x))


def _info(name: str, shape: tuple[int, ...], classes: int, description: str) -> DatasetInfo:
    return DatasetInfo(name, "image", shape, classes, description, embedded=False)


MNIST = register(
    RealDataset(
        _info("mnist", (1, 28, 28), 10, "MNIST 28x28, [0,1] intensities; 55k/5k/10k"),
        tuple(Archive(f, MNIST_URL + f, md5) for f, md5 in zip(IDX_FILES, MNIST_MD5, strict=True)),
        _idx_prepare,
        lambda _: transforms.image(),
    )
)
FASHION_MNIST = register(
    RealDataset(
        _info("fashion-mnist", (1, 28, 28), 10, "Fashion-MNIST 28x28, [0,1] intensities; 55k/5k/10k"),
        tuple(Archive(f, FASHION_URL + f, md5) for f, md5 in zip(IDX_FILES, FASHION_MD5, strict=True)),
        _idx_prepare,
        lambda _: transforms.image(),
    )
)
CIFAR10 = register(
    RealDataset(
        _info("cifar10", (3, 32, 32), 10, "CIFAR-10, normalised, crop+flip; 45k/5k/10k"),
        (
            Archive(
                "cifar-10-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a",
            ),
        ),
        _cifar10,
        _normalised(4),
    )
)
CIFAR100 = register(
    RealDataset(
        _info("cifar100", (3, 32, 32), 100, "CIFAR-100 (fine labels), normalised, crop+flip; 45k/5k/10k"),
        (
            Archive(
                "cifar-100-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                "eb9058c3a382ffc7106e4002c42a8d85",
            ),
        ),
        _cifar100,
        _normalised(4),
    )
)
TINY_IMAGENET = register(
    RealDataset(
        _info(
            "tiny-imagenet", (3, 64, 64), 200, "Tiny-ImageNet 64x64, normalised, crop+flip; 90k/10k/10k (val)"
        ),
        (
            Archive(
                "tiny-imagenet-200.zip",
                "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                "90528d7ca1a48142e341f4ef8d21d0de",
            ),
        ),
        _tiny_imagenet,
        _normalised(4),
    )
)
