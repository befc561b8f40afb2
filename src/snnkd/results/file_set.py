"""A set of output files replaced all together or not at all (the leaderboard's csv, md, png, html).

:func:`staged` yields a staging folder inside the output folder; the caller writes every file
there. On a clean exit each staged file is renamed onto its namesake in the output folder
(same filesystem: each rename is atomic). The old files are copied aside first, so when a
rename fails part-way (a target that is a directory, an immutable file) the renamed ones are
put back: the output folder holds the old set or the new set, never a mixture. On an
exception, or a failed commit, the staging folder is removed and nothing else is touched; a
staging folder left by a writer that was killed (``.staging-<pid>-*``) is removed by the next.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from snnkd.errors import ConfigError

BACKUP = ".old"
PREFIX = ".staging-"


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


@contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A staging folder for files that replace ``out_dir``'s all together (see the module doc)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale(out_dir)
        stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=f"{PREFIX}{os.getpid()}-"))
    except OSError as err:
        raise ConfigError(f"{out_dir}: cannot write there ({_reason(err)}); nothing was written") from None
    try:
        yield stage
        commit(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _remove_stale(out_dir: Path) -> None:
    from snnkd.processes import pid_alive

    for old in out_dir.glob(f"{PREFIX}*"):
        pid = old.name.removeprefix(PREFIX).split("-", 1)[0]
        if old.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def commit(stage: Path, out_dir: Path) -> list[Path]:
    """Rename every file of ``stage`` into ``out_dir``; on a failure put the old files back."""
    names = sorted(p.name for p in stage.iterdir() if p.is_file())
    backup = stage / BACKUP
    backup.mkdir()
    saved: set[str] = set()
    for name in names:
        target = out_dir / name
        if target.is_file():
            try:
                shutil.copy2(target, backup / name)
            except OSError as err:
                raise ConfigError(f"{target}: cannot read ({_reason(err)}); no file was changed") from None
            saved.add(name)
    done: list[str] = []
    for name in names:
        try:
            os.replace(stage / name, out_dir / name)
        except OSError as err:
            _roll_back(done, saved, backup, out_dir)
            raise ConfigError(
                f"{out_dir / name}: cannot write ({_reason(err)}); no file of {', '.join(names)} was changed"
            ) from None
        done.append(name)
    return [out_dir / name for name in names]


def _roll_back(done: list[str], saved: set[str], backup: Path, out_dir: Path) -> None:
    for name in reversed(done):
        if name in saved:
            os.replace(backup / name, out_dir / name)
        else:
            (out_dir / name).unlink(missing_ok=True)
