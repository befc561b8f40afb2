"""Independent jobs run at once, locally or as Ray tasks: the one mechanism behind the seeds of a
method stage and the trials of a tuning batch.

:func:`run` takes a function and one argument tuple per job and returns one :class:`Outcome` per
job, in the jobs' order, whichever finishes first.

- ``local`` (the default): each job runs in a process forked from this one, at most ``workers`` at a
  time. A fork inherits the imports and the arguments (nothing is pickled but the result), and the
  child asks the kernel to send it ``SIGTERM`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``,
  Linux), so kill -9 or SIGTERM of the parent leaves no worker behind.
- ``ray`` (when ``SNNKD_RAY_ADDRESS`` names a cluster, as ``snnkd scale`` does for its stages, or
  ``backend="ray"``): each job is a Ray task reserving ``cpus`` CPUs and ``gpus`` GPUs on *this*
  node (the job reads and writes this node's workspace), in a fresh worker process (``max_calls=1``:
  no state carried over from another job), retried when its worker dies. A task dies with the
  process that submitted it (Ray's owner fate sharing), so the same kill leaves no task behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from snnkd.errors import SnnkdError

ADDRESS_ENV = "SNNKD_RAY_ADDRESS"
NODE_ENV = "SNNKD_RAY_NODE"  # the node whose workspace the jobs use (set by snnkd scale's stage tasks)
#: retries of a Ray task whose worker process died (a crash or a kill, not a Python exception)
RAY_RETRIES = 3
#: variables a job sees as its submitter saw them (a Ray worker's environment is its raylet's); a
#: Ray worker starts with them (``runtime_env``), because torch, MKL, oneDNN and OpenBLAS read the
#: kernel pin (snnkd.trainer.threads) at their first use, before a task's body could set it
_FORWARDED_PREFIXES = (
    "SNNKD_",
    "MLFLOW_",
    "DVC_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "NUMEXPR_",
    "ATEN_",
    "ONEDNN_",
)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Outcome:
    """How one job ended: its return value, or the last line of its error."""

    value: Any = None
    error: str | None = None
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def backend() -> str:
    """``ray`` when ``SNNKD_RAY_ADDRESS`` is set, else ``local``."""
    return "ray" if os.environ.get(ADDRESS_ENV) else "local"


def die_with_parent(parent: int) -> None:
    """Ask for ``SIGTERM`` when the parent process dies; exit now if ``parent`` is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def last_line(err: BaseException) -> str:
    """``Type: message`` of an error's last non-empty line (what a one-line report shows)."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__


def run(
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    workers: int,
    *,
    cpus: float = 1,
    gpus: float = 0,
    backend_name: str | None = None,
) -> list[Outcome]:
    """``fn(*job)`` for every job, at once; the outcomes in the jobs' order."""
    name = backend_name or backend()
    if name == "ray":
        return _run_ray(fn, jobs, cpus, gpus)
    if name != "local":
        raise SnnkdError(f"tasks: backend '{name}' is not valid; valid choices: local, ray")
    return _run_local(fn, jobs, max(1, workers))


def values(outcomes: Sequence[Outcome]) -> list[Any]:
    """The jobs' return values; the first failed job's error is raised."""
    for outcome in outcomes:
        if not outcome.ok:
            raise outcome.exception or SnnkdError(outcome.error or "a job failed")
    return [o.value for o in outcomes]


def _child(fn: Callable[..., Any], args: tuple[Any, ...], conn: Any, parent: int) -> None:
    die_with_parent(parent)
    try:
        outcome = Outcome(value=fn(*args))
    except BaseException as err:  # reported to the parent, which decides
        outcome = Outcome(error=last_line(err), exception=err)
    try:
        conn.send(outcome)
    except Exception:  # an unpicklable exception: its text is enough
        conn.send(Outcome(error=outcome.error or "unpicklable result"))
    conn.close()


def _run_local(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int) -> list[Outcome]:
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    pending = list(enumerate(jobs))
    running: dict[Any, tuple[int, Any]] = {}
    outcomes: list[Outcome | None] = [None] * len(jobs)
    try:
        while pending or running:
            while pending and len(running) < workers:
                index, args = pending.pop(0)
                recv, send = context.Pipe(duplex=False)
                child = context.Process(target=_child, args=(fn, args, send, parent))
                child.start()
                send.close()
                running[recv] = (index, child)
            for conn in wait(list(running)):
                index, child = running.pop(conn)
                try:
                    outcomes[index] = conn.recv()
                except EOFError:  # the child died without a word (killed, or os._exit)
                    child.join()
                    outcomes[index] = Outcome(error=f"worker {child.pid} died (exit code {child.exitcode})")
                conn.close()
                child.join()
    except BaseException:
        for _, child in running.values():
            child.terminate()
        for _, child in running.values():
            child.join()
        raise
    return [o if o is not None else Outcome(error="not run") for o in outcomes]


def connect() -> Any:
    """This process's Ray connection: the running one, else the cluster at ``SNNKD_RAY_ADDRESS``."""
    try:
        import ray
    except ImportError:
        raise SnnkdError("Ray is not installed; install the extra: pip install 'snnkd[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=os.environ.get(ADDRESS_ENV) or None, log_to_driver=True, include_dashboard=False)
    return ray


def _in_place(cwd: str, env: dict[str, str], fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """A Ray task's body: the submitter's working directory and variables, then ``fn(*args)``."""
    os.chdir(cwd)
    os.environ.update(env)
    return fn(*args)


def forwarded_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_PREFIXES)}


def _run_ray(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], cpus: float, gpus: float
) -> list[Outcome]:
    ray = connect()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = os.environ.get(NODE_ENV) or ray.get_runtime_context().get_node_id()
    here = NodeAffinitySchedulingStrategy(node, soft=False)
    cwd, env = os.getcwd(), forwarded_environment()
    task = ray.remote(max_calls=1)(_in_place).options(
        num_cpus=cpus,
        num_gpus=gpus,
        max_retries=RAY_RETRIES,
        scheduling_strategy=here,
        runtime_env={"env_vars": env},  # the worker process starts with them
    )
    refs = [task.remote(cwd, env, fn, tuple(args)) for args in jobs]
    outcomes = []
    try:
        for ref in refs:
            try:
                outcomes.append(Outcome(value=ray.get(ref)))
            except ray.exceptions.RayTaskError as err:
                cause = err.cause if isinstance(err.cause, BaseException) else None
                outcomes.append(Outcome(error=last_line(cause or err), exception=cause))
            except ray.exceptions.RayError as err:  # the worker died more often than it may be retried
                outcomes.append(Outcome(error=last_line(err)))
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    return outcomes
