"""Datasets (a registry), input encoders and the in-memory batch loader."""

from snnkd.data import embedded as _embedded  # noqa: F401,E402  (registers digits, mnist1d)
from snnkd.data import fsdd as _fsdd  # noqa: F401,E402  (fsdd, fsdd-speakers: a folder of WAVs)
from snnkd.data import neuromorphic as _neuromorphic  # noqa: F401,E402  (n-mnist, n-caltech101, dvs-gesture)
from snnkd.data import nmnist_small as _nmnist_small  # noqa: F401,E402  (nmnist-small: a folder of .bs2)
from snnkd.data import speech as _speech  # noqa: F401,E402  (speech-commands)
from snnkd.data import vision as _vision  # noqa: F401,E402  (mnist, fashion-mnist, cifar10/100, tiny-imagenet)
from snnkd.data.registry import DATASETS, DatasetInfo, DatasetSpec, Split, Splits, load_splits

__all__ = ["DATASETS", "DatasetInfo", "DatasetSpec", "Split", "Splits", "load_splits"]
