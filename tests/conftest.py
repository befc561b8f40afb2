"""Shared fixtures: small, fast configurations and trained teachers on digits."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from snnkd.trainer.threads import pin_isa_environment

pin_isa_environment()  # as the snnkd command does, before any test starts torch: runs default to avx2
warnings.filterwarnings("ignore", message=".*Triton.*")


def small_config(**overrides):
    """A RunConfig for fast tests: digits student, 1 epoch, no progress output."""
    from snnkd.core.config import merge, validate

    data = {"dataset": "digits", "model": "student", "train": {"epochs": 1}, "device": "cpu"}
    for key, value in overrides.items():
        merge(data, key.split("__"), value)
    return validate(data)


def train_run(cfg, out: Path, **kwargs):
    from snnkd.trainer.loop import fit
    from snnkd.trainer.run import prepare

    run = prepare(cfg)
    return run, fit(run, out, show_progress=False, **kwargs)


def train_args(out: Path, *extra: str) -> list[str]:
    """``snnkd train`` arguments of a one-epoch digits run into ``out``."""
    return ["train", "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(out), *extra]


def one_line_error(capsys, code: int, expected: str, exit_code: int = 2) -> str:
    """Assert a command failed with ``exit_code`` and one ``snnkd: error:`` line holding ``expected``."""
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("snnkd: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err
    return lines[0]


@pytest.fixture
def restore_registries():
    """Plugins and loss terms registered by a test do not leak into later tests."""
    from snnkd import methods
    from snnkd.methods import discovery
    from snnkd.methods.terms import TERMS

    methods.discover()
    saved = dict(methods.METHODS._items), dict(TERMS._items), set(discovery._loaded)
    yield
    methods.METHODS._items.clear()
    methods.METHODS._items.update(saved[0])
    TERMS._items.clear()
    TERMS._items.update(saved[1])
    discovery._loaded.clear()
    discovery._loaded.update(saved[2])


@pytest.fixture
def own_mlflow_store(tmp_path, monkeypatch):
    """`snnkd train` tracks by default: each test gets its own store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


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
