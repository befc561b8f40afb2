"""Whether a process of this host still runs (stdlib only, used by locks and study recovery)."""

from __future__ import annotations

import os


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
