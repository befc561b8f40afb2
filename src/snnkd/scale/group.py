"""``python -m snnkd.scale.group PARENT_PID -- CMD...``: a command whose whole process tree dies with PARENT.

DVC runs a stage's command through a shell, and a method stage forks its seeds: killing DVC alone
leaves the rest running. This guard starts the command in a process group of its own, asks the
kernel for ``SIGTERM`` when PARENT (a Ray worker) dies, and on ``SIGTERM`` or ``SIGINT`` sends
the signal to the whole group, then ``SIGKILL`` to whatever is left after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

GRACE_S = 10.0


def _kill_group(pgid: int, grace: float = GRACE_S) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    from snnkd.pipeline.tasks import die_with_parent

    parent, cmd = int(argv[0]), argv[argv.index("--") + 1 :]
    die_with_parent(parent)
    child = subprocess.Popen(cmd, start_new_session=True)

    def stop(signum: int, _: Any) -> None:
        _kill_group(child.pid)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = child.wait()
    _kill_group(child.pid, grace=1.0)  # stray members of the group (none when the command is well-behaved)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
