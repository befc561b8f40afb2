"""Two suites coexist in one checkout, each a pipeline target with its own results/<suite>/ folder.

A copy of the smoke checkout after its `dvc repro` gets a second, tiny suite (`snnkd suite add`):
`dvc repro leaderboard@tiny` runs only tiny's stages (and the shared setup), writes only under
results/tiny/ and leaves every smoke stage up to date; a change to one suite's settings makes
only that suite's stages stale.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from smoke_repo import sh

TINY = "tiny"


def _changed(repo: Path, env: dict) -> set[str]:
    status = json.loads(sh(["dvc", "status", "--json"], repo, env))
    status.pop("data.dvc", None)  # data/raw/ is absent, as in a clone with no DVC remote
    return set(status)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _tiny(repo: Path) -> None:
    """benchmarks/tiny.yaml: the smoke suite cut to scratch, one epoch."""
    data = yaml.safe_load((repo / "benchmarks" / "smoke.yaml").read_text())
    data.update(suite=TINY, methods={"scratch": {}})
    data["groups"] = {g: (["scratch"] if g == "none" else []) for g in data["groups"]}
    data["budgets"] = {"digits": {"train": {"epochs": 1}}}
    (repo / "benchmarks" / f"{TINY}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def two_suites(smoke_plain, tmp_path_factory):
    plain, env, _ = smoke_plain
    repo = tmp_path_factory.mktemp("two-suites") / "repo"
    shutil.copytree(plain, repo, symlinks=True)  # the smoke checkout, built, left as it is for others
    assert _changed(repo, env) == set()
    smoke_before = _files(repo / "results" / "smoke")
    _tiny(repo)
    sh(["snnkd", "suite", "add", TINY], repo, env)
    out = sh(["dvc", "repro", f"leaderboard@{TINY}"], repo, env)
    return repo, env, out, smoke_before


def test_a_suites_target_runs_only_its_own_stages(two_suites):
    repo, _, out, _ = two_suites
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert ran == {
        "setup",
        f"tune@{TINY}-digits-scratch",
        f"method@{TINY}-digits-scratch",
        f"leaderboard@{TINY}",
    }
    board = (repo / "results" / TINY / "leaderboard.md").read_text()
    assert "scratch" in board and "Runs left out: 0." in board
    assert (repo / "results" / TINY / "runs" / "digits" / "scratch" / "seed0" / "metrics.json").is_file()


def test_adding_a_suite_leaves_the_other_up_to_date_and_untouched(two_suites):
    repo, env, _, smoke_before = two_suites
    assert _changed(repo, env) == set()  # smoke's stages too: setup's checked file kept its bytes
    assert _files(repo / "results" / "smoke") == smoke_before
    top = {p.name for p in (repo / "results").iterdir()}
    assert top == {"checked.json", "smoke", TINY}


def test_a_suites_params_reach_only_its_own_stages(two_suites):
    repo, env, _, _ = two_suites
    params = repo / "params.yaml"
    text = params.read_text()
    try:
        for edited, other in ((TINY, "smoke"), ("smoke", TINY)):
            data = yaml.safe_load(text)
            data["suites"][edited]["budgets"]["digits"]["train"]["epochs"] = 3
            params.write_text(yaml.safe_dump(data))
            changed = _changed(repo, env) - {"setup"}  # the shared check of params.yaml re-runs
            assert f"method@{edited}-digits-scratch" in changed and f"leaderboard@{edited}" in changed
            assert not [s for s in changed if f"@{other}" in s], changed
    finally:
        params.write_text(text)
    assert _changed(repo, env) == set()
