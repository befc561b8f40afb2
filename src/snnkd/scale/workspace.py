"""Isolated workspaces: the driver's commit plus its uncommitted state, one clone per stage.

:func:`snapshot` records the working tree (tracked changes, deletions and untracked files that git
does not ignore) as a commit under ``refs/snnkd/scale`` through a temporary index, leaving the
user's branch, index and files untouched. :func:`prepare` makes (or, for a retried task, resets)
a ``git clone --shared`` of it: the objects stay in the source repository (which every node must
reach, e.g. on a shared filesystem), ignored folders such as ``runs/work/`` survive a reset so an
interrupted run resumes from its checkpoint. :func:`link_outside` makes the dependencies that lie
outside the repository, named relative to it (``sources: {fsdd: ../shared/data/fsdd/recordings}``),
resolve from a workspace as they do from the source repository. :func:`make_folders` makes the
folders git does not carry (an empty one a stage depends on).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from snnkd.errors import SnnkdError

REF = "refs/snnkd/scale"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "snnkd scale",
    "GIT_AUTHOR_EMAIL": "scale@snnkd",
    "GIT_COMMITTER_NAME": "snnkd scale",
    "GIT_COMMITTER_EMAIL": "scale@snnkd",
}


def git(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        line = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise SnnkdError(f"git {args[0]} in {cwd}: {line}")
    return done.stdout.strip()


def snapshot(root: Path) -> str:
    """The commit of ``root``'s working tree as it is now (its parent: ``HEAD``)."""
    with tempfile.TemporaryDirectory(prefix="snnkd-index-") as tmp:
        env = {**os.environ, **_IDENTITY, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", "HEAD"], root, env)
        git(["add", "-A"], root, env)
        tree = git(["write-tree"], root, env)
        commit = git(["commit-tree", tree, "-p", "HEAD", "-m", "snnkd scale: working tree"], root, env)
    git(["update-ref", REF, commit], root)
    return commit


def prepare(source: Path, commit: str, path: Path) -> Path:
    """A workspace at ``path`` holding exactly ``commit`` (ignored files of an earlier try kept)."""
    if not (path / ".git").is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        git(["clone", "--quiet", "--shared", "--no-checkout", str(source), str(path)], path.parent)
    git(["checkout", "--quiet", "--force", "--detach", commit], path)
    git(["clean", "--quiet", "-fd"], path)
    for stale in (".dvc/tmp/lock", ".dvc/tmp/rwlock"):  # left by a killed try; nobody else uses this clone
        (path / stale).unlink(missing_ok=True)
    return path


def remove(path: Path) -> None:
    """Drop a finished stage's workspace (its results are in DVC's cache)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def link_outside(source: Path, path: Path, relative: Iterable[str]) -> list[Path]:
    """Links that make each of ``relative`` (paths relative to the repository that leave it, such as
    ``../shared/data/fsdd``) name from the workspace ``path`` what it names from ``source``.

    For a path of ``k`` leading ``..`` and first name ``n``, the link is ``path/../(k)/n`` (for a
    workspace ``runs/scale/<node>/<stage>`` and ``../shared``: ``runs/scale/<node>/shared``, shared
    by the node's workspaces) and points at ``source/../(k)/n``. DVC records such a dependency by
    the relative path, so the stage's run-cache key is the one the source repository computes.
    Paths inside the repository and absolute ones need nothing. Returns the links made or found.
    """
    links: list[Path] = []
    for text in relative:
        parts = PurePosixPath(text).parts
        ups = next((i for i, part in enumerate(parts) if part != ".."), len(parts))
        if ups == 0 or ups == len(parts) or PurePosixPath(text).is_absolute():
            continue
        head = Path(*parts[: ups + 1])
        link = Path(os.path.normpath(path / head))
        target = (source / head).resolve()
        if not link.is_symlink():
            if link.exists():
                raise SnnkdError(f"{text}: {link} is in the way of a link to {target} (remove it)")
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                link.symlink_to(target, target_is_directory=target.is_dir())
            except FileExistsError:  # another workspace's task made it meanwhile
                pass
        if link.resolve() != target:
            raise SnnkdError(f"{text}: {link} links to {link.resolve()}, not {target} (remove it)")
        links.append(link)
    return links


def make_folders(path: Path, relative: Iterable[str]) -> list[Path]:
    """Make each of ``relative`` (folders relative to the repository at ``path``) that is missing:
    git keeps no empty folder, and DVC refuses a stage whose dependency is missing. Returns those
    made."""
    made = [path / text for text in relative if not (path / text).is_dir()]
    for folder in made:
        folder.mkdir(parents=True)
    return made
