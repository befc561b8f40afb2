"""A run's provenance: package versions, git state, CPU and device, its tags and its run key."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from snnkd.tracking.store import masked

PACKAGES = ("snnkd", "torch", "spikingjelly", "mlflow", "dvc", "numpy", "optuna")
TAG = "snnkd."  # prefix of the suite's own tags


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirtiness of the repository at ``root`` (empty outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit, f"{TAG}git_dirty": str(bool(dirty)).lower()}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_tags(device: str) -> dict[str, str]:
    """Where a run ran. Bit-identical results need the same CPU kernels: ATen's CPU capability
    (AVX2, AVX512, ...) picks different vectorised reductions, so it is recorded with the model."""
    import torch

    tags = {
        f"{TAG}device": device,
        f"{TAG}host_cpu": cpu_model(),
        f"{TAG}cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if device.startswith("cuda"):
        tags[f"{TAG}device_name"] = torch.cuda.get_device_name()
    return tags


def run_tags(cfg: Any, run: Any, *, suite: str, stage: str | None, role: str) -> dict[str, str]:
    """Provenance tags of a run (its config, method, teacher, DVC stage, device)."""
    teacher = getattr(run, "teacher", None)
    tags = {
        f"{TAG}suite": suite,
        f"{TAG}role": role,
        f"{TAG}method": cfg.method,
        f"{TAG}dataset": cfg.dataset,
        f"{TAG}model": f"{cfg.model}-ann" if cfg.ann else cfg.model,
        f"{TAG}seed": str(cfg.seed),
        f"{TAG}identity": cfg.identity(),
        f"{TAG}run_key": run_key(cfg.identity(), teacher.digest if teacher else None),
        f"{TAG}readout": cfg.readout,
        f"{TAG}command": masked(" ".join(sys.argv)),  # a --storage URL's password stays out of MLflow
        f"{TAG}cpu_isa": cfg.cpu_isa,
        **device_tags(str(run.device)),
    }
    if stage := stage or os.environ.get("DVC_STAGE"):
        tags[f"{TAG}dvc_stage"] = stage
    if teacher is not None:
        tags[f"{TAG}teacher"] = teacher.path
        tags[f"{TAG}teacher_sha256"] = teacher.digest
    return tags


def run_key(identity: str, teacher_sha256: str | None) -> str:
    """What a run's result depends on: its config identity and its teacher's checkpoint content."""
    import hashlib

    return hashlib.sha256(f"{identity}:{teacher_sha256 or ''}".encode()).hexdigest()[:16]
