"""One stale stage, run by a Ray task in a workspace of its own; the result goes into DVC's cache.

The workspace (:mod:`snnkd.scale.workspace`) shares the driver's DVC cache (``cache.dir``, on a
filesystem every node mounts). In it the task

1. checks out the outputs ``dvc.lock`` already records (up-to-date upstream stages), and makes the
   folders ``snnkd pipeline setup`` makes, which git does not carry (a suite's
   ``results/<suite>/networks/``, which a suite without reference networks leaves empty and its
   leaderboard stage depends on);
2. runs ``dvc repro <stage>``: upstream stages that other tasks ran are restored from the run
   cache, and only this stage may execute (``SNNKD_SCALE_RUNS``: any other stage's command
   refuses to start);
3. leaves, through DVC, its outputs and run-cache entry in the shared cache. DVC saves a run-cache
   entry only for a stage whose outputs are all cached, so the workspace's copy of ``dvc.yaml``
   drops ``cache: false``: that changes no command, dependency, parameter or output path, which
   are all the run-cache key holds, so the driver's own ``dvc repro`` finds exactly this entry,
   and restores the git-tracked outputs by copy. A stage that fails or is killed saves nothing.

The command runs under :mod:`snnkd.scale.group`, so killing the task's worker kills its whole
process tree, and a retry of the task resumes the interrupted run from ``runs/work/<key>/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from snnkd.errors import SnnkdError
from snnkd.pipeline.tasks import ADDRESS_ENV, NODE_ENV
from snnkd.scale import workspace

RUNS_ENV = "SNNKD_SCALE_RUNS"  # the one stage whose command may execute ("-": none)


@dataclass(frozen=True)
class StageJob:
    stage: str
    source: str  # the driver's repository
    commit: str  # its working tree (workspace.snapshot)
    cache_dir: str  # the driver's DVC cache
    root: str  # where workspaces live (per node)
    env: dict[str, str]  # MLFLOW_TRACKING_URI, SNNKD_CACHE_DIR, ...
    folders: tuple[str, ...] = ()  # made in the workspace, as setup makes them (stages.setup_folders)


@dataclass(frozen=True)
class StageDone:
    stage: str
    seconds: float
    executed: bool  # False: restored from the run cache


class StageFailed(SnnkdError):
    """A stage's command failed: the message names the stage and the command's last error line."""


def cached_outs_only(path: Path) -> None:
    """Drop ``cache: false`` from every stage's ``outs`` in the workspace's ``dvc.yaml``."""
    data = yaml.safe_load(path.read_text())
    for stage in data.get("stages", {}).values():
        body = stage.get("do", stage)
        for out in body.get("outs", []):
            if isinstance(out, dict):
                for flags in out.values():
                    if isinstance(flags, dict):
                        flags.pop("cache", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def folder_sources(params: Path) -> list[str]:
    """The folders of the datasets read from files (``plan.folders``), as ``params.yaml`` names them."""
    plan = (yaml.safe_load(params.read_text()) or {}).get("plan") or {}
    return [str(record["path"]) for record in (plan.get("folders") or {}).values()]


def error_line(output: str) -> str:
    """The last line a failing command printed that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    own = [line for line in lines if re.search(r"\berror\b|Error:|Traceback", line, re.I)]
    own = [line for line in own if not line.startswith("ERROR: failed to reproduce")] or own
    return (own or lines or ["no output"])[-1]


def dvc(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.CompletedProcess:
    """``dvc ARGS`` whose process tree dies with this process; output appended to ``log``."""
    cmd = [sys.executable, "-m", "snnkd.scale.group", str(os.getpid()), "--", sys.executable, "-m", "dvc"]
    with log.open("a") as fh:  # kept across retries of the task
        fh.write(f"$ dvc {' '.join(args)}\n")
    done = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True)
    with log.open("a") as fh:
        fh.write(f"{done.stdout}{done.stderr}")
    return done


def run_stage(job: StageJob) -> StageDone:
    """The body of a stage's Ray task (see the module's docstring)."""
    import ray

    t0 = time.monotonic()
    context = ray.get_runtime_context()
    node = context.get_node_id()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job.stage)
    path = workspace.prepare(Path(job.source), job.commit, Path(job.root) / node[:12] / safe)
    workspace.link_outside(Path(job.source), path, folder_sources(path / "params.yaml"))
    log = path.parent / f"{safe}.log"
    path_var = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])  # our snnkd
    env = {
        **os.environ,
        **job.env,
        "PATH": path_var,
        RUNS_ENV: "-",
        ADDRESS_ENV: context.gcs_address,
        NODE_ENV: node,
    }
    for args in (
        ["config", "--local", "cache.dir", job.cache_dir],
        ["config", "--local", "core.no_scm", "true"],
    ):
        _check(dvc(args, path, env, log), job.stage, log)
    _check(dvc(["checkout", "--allow-missing", "--quiet"], path, env, log), job.stage, log, strict=False)
    cached_outs_only(path / "dvc.yaml")
    workspace.make_folders(path, job.folders)
    done = dvc(["repro", job.stage], path, {**env, RUNS_ENV: job.stage}, log)
    _check(done, job.stage, log)
    executed = f"Running stage '{job.stage}'" in done.stdout
    workspace.remove(path)
    return StageDone(job.stage, time.monotonic() - t0, executed)


def _check(done: subprocess.CompletedProcess, stage: str, log: Path, strict: bool = True) -> None:
    if done.returncode != 0 and strict:
        raise StageFailed(f"stage {stage} failed: {error_line(done.stdout + done.stderr)} (log: {log})")


def remote_function(cpus: float, gpus: float) -> Any:
    """:func:`run_stage` as a Ray task reserving ``cpus`` and ``gpus``, retried when its worker dies."""
    import ray

    from snnkd.pipeline.tasks import RAY_RETRIES

    return ray.remote(run_stage).options(
        num_cpus=cpus, num_gpus=gpus, max_retries=RAY_RETRIES, retry_exceptions=False
    )
