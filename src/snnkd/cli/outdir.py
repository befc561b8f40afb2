"""Output folders: checked writable before any work, removed again when a run fails early.

``snnkd train --out DIR`` must refuse a folder it cannot write (an existing file,
a path under a file, a read-only or virtual file system such as ``/proc``) with
one line *before* training, and a run that fails must not leave an empty folder
behind (:func:`created_dir`).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snnkd.errors import ConfigError

#: what a failed run may leave in a folder it created: its checkpoint (for ``--resume``)
KEEP = "checkpoint.pt"


def _nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            return folder
    return Path(path.anchor or ".")


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """Raise a one-line ConfigError unless ``path`` is (or can be made) a writable folder.

    Writability is probed by creating (and removing) a temporary entry, because
    permission bits do not tell the whole story (read-only mounts, ``/proc``, root).
    """
    p = Path(path).absolute()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag}: {path} is a file, not a folder")
    _check_writable(_nearest_existing(p), path, flag)
    return p


def _check_writable(base: Path, path: str | Path, flag: str) -> None:
    """``base``, the nearest existing folder above ``path``, is a folder this process can write in."""
    if not base.is_dir():
        raise ConfigError(f"{flag}: {path} is under {base}, which is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(dir=base, prefix=".snnkd-write-probe-")
        os.rmdir(probe)
    except OSError as err:
        why = os.strerror(err.errno) if err.errno else str(err)
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = f"cannot write in {base} ({why})"
        else:
            why = f"cannot create a folder in {base} ({why})"
        raise ConfigError(f"{flag}: {path}: {why}") from None


def check_out_file(path: str | Path, flag: str = "--out") -> Path:
    """Raise a one-line ConfigError unless ``path`` is (or can be made) a writable file.

    An existing folder is refused; the folder it goes in is checked like an output
    folder (:func:`check_out_dir`): not under a file, and writable.
    """
    p = Path(path)
    if p.is_dir() or p.name in ("", ".", ".."):
        raise ConfigError(f"{flag}: {path} is a folder, not a file")
    _check_writable(_nearest_existing(p.absolute().parent), path, flag)
    return p


@contextmanager
def created_dir(path: Path) -> Iterator[Path]:
    """Create ``path`` (and parents) for the body; if the body raises, remove what was created.

    Only folders this call created are removed, and ``path`` only when it holds no
    checkpoint (a run that got through an epoch can still be resumed).
    """
    path = Path(path)
    created = [f for f in (path, *path.parents) if not os.path.lexists(f)]
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if created and not (path / KEEP).exists():
            shutil.rmtree(path, ignore_errors=True)
            for folder in created[1:]:  # the parents made for it, innermost first, if empty
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise
