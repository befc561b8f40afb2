"""The CPU thread policy: every run computes with a fixed number of threads (default 1).

Why: on a busy machine, torch's default (one intra-op thread per core) lets
OpenMP threads spin against any other CPU-bound job: an epoch of 2.6 s took
172 s beside a second job on 2 cores. And a different thread count sums floats
in a different order, which spiking thresholds amplify, so results depended on
the machine. With a fixed count, results depend only on the configuration
(``RunConfig.threads`` is part of a run's identity), and parallelism comes from
running independent seeds in separate processes instead.

``limit`` sets torch's intra-op threads (``torch.set_num_threads``), its
inter-op threads (once per process, before any parallel work) and, through
``threadpoolctl``, the BLAS/OpenMP pools numpy and scikit-learn use.
``child_environment`` gives subprocesses the same limits from their start.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_limiter = None


def child_environment(threads: int = 1) -> None:
    """Set the thread variables (for this process's libraries not yet loaded, and its children)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def limit(threads: int = 1) -> None:
    """Make this process compute with ``threads`` CPU threads from now on."""
    global _limiter
    import torch
    from threadpoolctl import threadpool_limits

    child_environment(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started: it can be set only once
        pass
    _limiter = threadpool_limits(limits=threads)  # kept alive: the limit holds while it exists


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's CPU set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
