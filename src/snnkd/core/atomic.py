"""Files written atomically: a reader never sees half a file, a killed writer leaves nothing behind."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from pathlib import Path

from snnkd.processes import pid_alive


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see half a file.

    The temporary file ``.<name>.<pid>.<random>.tmp`` sits beside ``path``; the
    result gets the permissions any new file gets (``0666`` less the umask), and
    temporary files left by writers that were killed are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (``/proc``), else by setting it back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(path: Path, max_age: float = 3600.0) -> list[Path]:
    """Remove ``.<name>.<pid>.*.tmp`` files of ``path`` whose writer no longer runs.

    A writer is identified by the pid in the name (this host's processes); a
    file without one (older releases) counts as stale after ``max_age`` seconds.
    """
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit():
            stale = not pid_alive(int(pid))
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > max_age
            except OSError:
                continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text))
