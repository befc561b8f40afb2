"""Datasets (a registry), input encoders and the in-memory batch loader."""

from snnkd.data import embedded as _embedded  # noqa: F401,E402  (registers digits, mnist1d)
from snnkd.data.registry import DATASETS, DatasetInfo, DatasetSpec, Split, Splits, load_splits

__all__ = ["DATASETS", "DatasetInfo", "DatasetSpec", "Split", "Splits", "load_splits"]
