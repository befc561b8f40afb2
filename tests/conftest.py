"""Shared fixtures: small, fast configurations and trained teachers on digits."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*Triton.*")


def small_config(**overrides):
    """A RunConfig for fast tests: digits student, 1 epoch, no progress output."""
    from snnkd.config import merge, validate

    data = {"dataset": "digits", "model": "student", "train": {"epochs": 1}, "device": "cpu"}
    for key, value in overrides.items():
        merge(data, key.split("__"), value)
    return validate(data)


def train_run(cfg, out: Path, **kwargs):
    from snnkd.train import fit, prepare

    run = prepare(cfg)
    return run, fit(run, out, show_progress=False, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Teacher-knowledge cache and MLflow store inside the test's temporary folder."""
    import os

    os.environ["SNNKD_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    # `snnkd train` tracks by default: never into the checkout's mlflow.db
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db")
    yield


@pytest.fixture(scope="session")
def teacher_ckpt(tmp_path_factory) -> Path:
    """A digits teacher (the assistant preset, for speed) with a mean readout."""
    out = tmp_path_factory.mktemp("teacher")
    train_run(small_config(model="assistant", train__epochs=2), out)
    return out / "checkpoint.pt"


@pytest.fixture(scope="session")
def spiking_teacher_ckpt(tmp_path_factory) -> Path:
    """A digits teacher whose output layer spikes."""
    out = tmp_path_factory.mktemp("spiking_teacher")
    train_run(small_config(model="assistant", readout="spiking", train__epochs=2), out)
    return out / "checkpoint.pt"


@pytest.fixture(scope="session")
def smoke_plain(tmp_path_factory):
    """A fresh copy of the repository on the smoke suite after a plain `dvc repro`: (repo, env, output)."""
    from smoke_repo import fresh_copy, sh, smoke_env

    tmp = tmp_path_factory.mktemp("smoke-plain")
    env = smoke_env(tmp)
    repo = fresh_copy(tmp / "repo", env)
    return repo, env, sh(["dvc", "repro"], repo, env)
