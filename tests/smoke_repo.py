"""A fresh copy of the repository on the smoke suite, and what its `dvc repro` publishes (shared by
the end-to-end tests of `dvc repro` and of `snnkd scale`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ("metrics.json", "curve.csv", "run.json")


def sh(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def fresh_copy(dest: Path, env: dict) -> Path:
    """The working tree's files (tracked and untracked, not ignored), no results, in a new git repo."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        src = ROOT / name
        if src.is_file() and not name.startswith("results/") and name != "dvc.lock":
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh(["git", "init", "-q"], dest, env)
    sh(["snnkd", "suite", "use", "smoke"], dest, env)
    sh(["git", "add", "-A"], dest, env)
    sh(["git", "commit", "-qm", "copy"], dest, env)
    return dest


def smoke_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # the environment's own `dvc` and `snnkd`, also when the venv is not activated (as in CI)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env["SNNKD_CACHE_DIR"] = str(tmp / "cache")  # no teacher knowledge shared between the two copies
    return env


def published(repo: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted((repo / "results").rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and (path.name in PUBLISHED or path.name in ("leaderboard.csv", "leaderboard.md")):
            files[rel] = path.read_bytes()
    return files


# prints the snnkd files `snnkd ARGS...` imports (python -c IMPORTS ARGS... in a fresh interpreter),
# relative to the repository
IMPORTS = """
import sys, contextlib, io
from pathlib import Path
import snnkd
from snnkd.cli.main import main
sys.argv = ["snnkd", *sys.argv[1:]]
with contextlib.redirect_stdout(io.StringIO()):
    code = main()
root = Path(snnkd.__file__).resolve().parents[2]
for name, mod in sorted(sys.modules.items()):
    path = getattr(mod, "__file__", None)
    if name.startswith("snnkd") and path and Path(path).resolve().is_relative_to(root / "src"):
        print(Path(path).resolve().relative_to(root).as_posix())
sys.exit(code)
"""
