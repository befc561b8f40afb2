"""The driver of ``snnkd scale``: stale stages as Ray tasks in dependency order, then DVC's verdict.

1. DVC names the stale stages (:mod:`snnkd.scale.dag`); the driver records the working tree
   (:func:`snnkd.scale.workspace.snapshot`) and creates the MLflow experiment once.
2. A stage is submitted as soon as the stages it needs are done, the stage with the longest chain
   of work after it first (:mod:`snnkd.scale.history`: the seconds each stage took when it last
   ran here); Ray starts it when its resources are free: ``num_cpus`` = the run's ``threads``
   (``num_gpus=1`` for ``device: cuda``) for a reference network; a method or tuning stage
   reserves nothing itself, its seeds and trials are the tasks that reserve the CPUs
   (:mod:`snnkd.pipeline.tasks`), so a 5-seed stage uses 5 cores where there are 5 and fills an idle core
   where there are 2.
3. One line per finished stage, one tqdm bar over the stages (done, running, left, ETA).
4. A stage that fails for good stops the driver with one line naming it and its last error line.
5. The driver ends with ``dvc repro`` in its own checkout, which restores every stage from the
   shared run cache and may execute nothing (``SNNKD_SCALE_RUNS=-``: a stage command refuses).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from snnkd.errors import ConfigError, SnnkdError
from snnkd.scale import dag, history, workspace
from snnkd.scale.stage_task import RUNS_ENV, StageDone, StageJob, remote_function


@dataclass
class Report:
    ran: list[StageDone]
    wall_s: float


def resources(stage: dag.Stage, suites: dict[str, Any]) -> tuple[float, float]:
    """CPUs and GPUs the stage's own process computes with (its seeds and trials reserve theirs);
    ``suites``: the suites of ``params.yaml`` by name (a training stage's command names its own)."""
    words = stage.cmd.split()
    kind = words[2] if words[:2] == ["snnkd", "pipeline"] and len(words) > 5 else ""
    suite = suites.get(words[3]) if kind else None
    if suite is None:
        return (0, 0) if kind in ("method", "tune") else (1, 0)
    if kind == "network":
        cfg = suite.network_config(words[4], words[5])
    elif kind == "tune" and suite.jobs == 1:  # trials train in the stage's own process
        cfg = suite.method_config(words[4], words[5], suite.seeds[0], tuned=False)
    elif kind in ("method", "tune"):
        return 0, 0
    else:
        return 1, 0
    return int(cfg.get("threads", 1)), 1 if str(cfg.get("device", "cpu")).startswith("cuda") else 0


def select(stages: list[dag.Stage], stale: set[str], targets: Sequence[str]) -> list[dag.Stage]:
    """The stale stages needed for ``targets`` (all stale stages when none), in dependency order."""
    names = {s.name for s in stages}
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise ConfigError(
            f"targets: '{unknown[0]}' is not a stage; valid choices: {', '.join(sorted(names))}"
        )
    wanted = set(targets) if targets else names
    for stage in reversed(stages):  # reverse dependency order: a stage's needs are added after it
        if stage.name in wanted:
            wanted.update(stage.needs)
    return [s for s in stages if s.name in wanted and s.name in stale]


def connect(address: str | None, cpus: int | None) -> Any:
    """Ray: the running connection, the cluster at ``address``, or a local cluster of ``cpus`` CPUs."""
    try:
        import ray
    except ImportError:
        raise SnnkdError("snnkd scale needs Ray: pip install 'snnkd[ray]'") from None
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except ray.exceptions.AuthenticationError:
                raise SnnkdError(
                    f"--address {address}: the cluster asks for a token; export RAY_AUTH_MODE=token "
                    "(Ray reads it from ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)"
                ) from None
        else:
            # a new local cluster turns token authentication on (RAY_AUTH_MODE=token in this process's
            # environment, Ray >= 2.5x): the stage processes inherit it and present the token
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return ray


def _cache_dir(root: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "cache", "dir"], cwd=root, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SnnkdError(f"dvc cache dir: {(out.stderr.strip().splitlines() or ['failed'])[-1]}")
    return str((root / out.stdout.strip()).resolve())


def _environment(root: Path, suites: dict[str, Any]) -> dict[str, str]:
    """What every task sees: one MLflow store (each suite's experiment created here, once), one
    teacher cache."""
    from snnkd.tracking import store

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    for suite in suites.values():
        store.init_store(suite.experiment(), uri)
    env = {"MLFLOW_TRACKING_URI": uri}
    if os.environ.get("SNNKD_CACHE_DIR"):
        env["SNNKD_CACHE_DIR"] = os.environ["SNNKD_CACHE_DIR"]
    return env


def run(
    root: Path,
    targets: Sequence[str] = (),
    address: str | None = None,
    cpus: int | None = None,
    out: TextIO = sys.stderr,
) -> Report:
    """Run the stale stages (of ``targets``) on Ray, then the final ``dvc repro``; see the module."""
    from tqdm import tqdm

    from snnkd.pipeline.stages import setup_folders
    from snnkd.pipeline.suites import load_all

    root = root.resolve()
    t0 = time.monotonic()
    stages, stale = dag.read(root)
    todo = history.start_order(select(stages, stale, targets), history.load(root))
    if not todo:
        print("snnkd scale: every stage is up to date; nothing to run", file=out)
        return Report([], time.monotonic() - t0)
    ray = connect(address, cpus)
    suites = load_all(root / "params.yaml")
    job = {
        "source": str(root),
        "commit": workspace.snapshot(root),
        "cache_dir": _cache_dir(root),
        "root": str(root / "runs" / "scale"),
        "env": _environment(root, suites),
        "folders": setup_folders(suites),
    }
    limit = max(2, int(ray.cluster_resources().get("CPU", 1)) + 2)  # stage processes alive at once
    pending, running, done = list(todo), {}, {s.name for s in stages if s.name not in stale}
    results: list[StageDone] = []
    timed: dict[str, float] = {}
    bar = tqdm(total=len(todo), unit="stage", desc="snnkd scale", file=out, dynamic_ncols=True)
    try:
        while pending or running:
            for stage in list(pending):
                if len(running) >= limit:
                    break
                if all(n in done for n in stage.needs):
                    cpu, gpu = resources(stage, suites)
                    running[remote_function(cpu, gpu).remote(StageJob(stage.name, **job))] = stage
                    pending.remove(stage)
            bar.set_postfix_str(f"running {len(running)}, left {len(pending)}")
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                stage = running.pop(ref)
                result = _result(ray, ref, stage.name)
                done.add(stage.name)
                results.append(result)
                if result.executed:
                    timed[stage.name] = result.seconds
                how = "ran" if result.executed else "restored from the run cache"
                bar.write(f"{stage.name}: {how} in {result.seconds:.1f} s", file=out)
                bar.update(1)
        bar.set_postfix_str("final dvc repro")
        workspace.make_folders(root, job["folders"])  # setup ran in a workspace, not here
        final_repro(root, targets)
    finally:
        bar.close()
        for ref in running:
            ray.cancel(ref, force=True)
        history.record(root, timed)
    return Report(results, time.monotonic() - t0)


def _result(ray: Any, ref: Any, stage: str) -> StageDone:
    from snnkd.pipeline.tasks import last_line

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = err.cause if isinstance(err.cause, BaseException) else err
        raise SnnkdError(
            str(cause) if isinstance(cause, SnnkdError) else f"stage {stage}: {last_line(cause)}"
        ) from None
    except ray.exceptions.RayError as err:  # its worker died more often than it may be retried
        raise SnnkdError(f"stage {stage} failed: {last_line(err)}") from None


def final_repro(root: Path, targets: Sequence[str]) -> None:
    """``dvc repro`` here: every stage restored from the run cache, none executed."""
    env = {**os.environ, RUNS_ENV: "-"}
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", *targets], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0 or "Running stage" in done.stdout:
        from snnkd.scale.stage_task import error_line

        raise SnnkdError(f"final dvc repro: {error_line(done.stdout + done.stderr)}")
