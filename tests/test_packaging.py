"""The wheel: built from a copy of the project, installed into a fresh virtual environment.

The new environment gets only the wheel (``--no-deps``); its dependencies come
from this environment's site-packages on ``PYTHONPATH`` (a folder on
``PYTHONPATH`` does not run this environment's editable ``.pth``, so ``snnkd``
itself is imported from the wheel). Everything runs offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = sorted(p.stem.replace("_", "-") for p in (ROOT / "methods").glob("[!_]*.py"))
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A copy of the sources the wheel is built from (a checkout as a new user has it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("src", "methods"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return src


@pytest.fixture(scope="module")
def build_tmp(tmp_path_factory) -> Path:
    """The temporary folder (``TMPDIR``) of the wheel's build."""
    return tmp_path_factory.mktemp("tmpdir")


@pytest.fixture(scope="module")
def wheel(sources, build_tmp, tmp_path_factory) -> Path:
    """``pip wheel . --no-deps`` in the copy of the sources."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-qw", str(out)],
        cwd=sources,
        check=True,
        capture_output=True,
        env={**os.environ, "TMPDIR": str(build_tmp)},
    )
    (path,) = out.glob("snnkd-*.whl")
    return path


def test_building_the_wheel_leaves_no_build_folder(sources, build_tmp, wheel):
    """setup.py builds in a temporary folder removed at the end: no build/ in the checkout
    (``src/*.egg-info`` is git-ignored) and nothing left in the temporary folder."""
    left = sorted(p.name for p in sources.iterdir())
    assert left == ["README.md", "methods", "pyproject.toml", "setup.py", "src"], left
    assert not list(build_tmp.glob("snnkd-build-*"))


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh venv outside the checkout with the wheel installed; returns (bin folder, environment)."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        **THREADS,
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }
    return home / "bin", env


def test_wheel_holds_every_builtin_method(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(
        Path(n).stem.replace("_", "-")
        for n in names
        if n.startswith("snnkd/methods_builtin/") and not Path(n).name.startswith("_")
    )
    assert shipped == BUILTIN and len(BUILTIN) >= 11


def test_installed_wheel_lists_all_methods_and_trains_kd(venv, tmp_path):
    bin_dir, env = venv
    where = subprocess.run(
        [bin_dir / "python", "-c", "import snnkd.methods as m; print(m.__file__); print(m.builtin_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(p.startswith(str(bin_dir.parent)) for p in where)  # the wheel's copy, not the checkout

    listed = subprocess.run(
        [bin_dir / "snnkd", "list", "methods"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line and not line[0].isspace()}
    assert set(BUILTIN) <= rows

    def train(*flags: str) -> subprocess.CompletedProcess:
        cmd = [bin_dir / "snnkd", "train", "--dataset", "digits", "--epochs", "1", "--quiet", *flags]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)

    teacher = train("--model", "assistant", "--out", "teacher", "--no-track")
    assert teacher.returncode == 0, teacher.stderr
    kd = train("--method", "kd", "--teacher", "teacher/checkpoint.pt", "--out", "kd", "--no-track")
    assert kd.returncode == 0, kd.stderr
    assert "method kd: test accuracy" in kd.stdout
    assert (tmp_path / "kd" / "checkpoint.pt").is_file() and (tmp_path / "kd" / "metrics.json").is_file()
