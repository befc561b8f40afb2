"""Processes (stdlib only): whether one of this host still runs (locks, study recovery), and
SIGTERM handled as SIGINT."""

from __future__ import annotations

import os
import signal
from typing import Any


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this host (ours included).

    ``os.kill(pid, 0)`` sends no signal; it fails with ``ProcessLookupError`` for a pid
    that no longer exists and with ``PermissionError`` for another user's live process.
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def terminate_as_interrupt() -> None:
    """Make SIGTERM (``kill``, a job scheduler, DVC stopping a stage) raise ``KeyboardInterrupt``
    in the main thread, as SIGINT does: the command prints ``interrupted``, exits 130 and marks
    its MLflow run KILLED instead of dying with 143 and leaving it RUNNING. Only the main thread
    may set a handler: called from another thread, this does nothing."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
