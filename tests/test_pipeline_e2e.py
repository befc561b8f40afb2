"""`dvc repro` end to end on the smoke suite: results, exact reproduction, honest dependencies.

The smoke suite (digits, scratch and kd, 2 seeds trained at once) runs in two fresh copies of the
repository, the second while a CPU-bound process competes for the cores: the published metrics,
curves and leaderboard must be byte-identical. Then the dependency graph is checked: a no-op
`dvc repro` runs nothing, editing one plugin invalidates only that method's stages, and a student
budget never reaches the reference networks.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from smoke_repo import PUBLISHED, fresh_copy, published, sh


def _burn(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def _changed(repo: Path, env: dict) -> set[str]:
    status = json.loads(sh(["dvc", "status", "--json"], repo, env))
    status.pop("data.dvc", None)  # data/raw/ is absent, as in a clone with no DVC remote
    return set(status)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, smoke_plain):
    tmp = tmp_path_factory.mktemp("e2e")
    first, env, out = smoke_plain
    second = fresh_copy(tmp / "second", env)
    burner = multiprocessing.get_context("spawn").Process(target=_burn, args=(600,), daemon=True)
    burner.start()  # a different machine load for the second run
    try:
        sh(["dvc", "repro"], second, env)
    finally:
        burner.terminate()
    return first, second, env, out


def test_smoke_suite_publishes_runs_and_leaderboard(two_runs):
    from mlflow import MlflowClient

    repo, _, env, out = two_runs
    assert "Running stage 'method@smoke-digits-kd'" in out and "Running stage 'leaderboard@smoke'" in out
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("snnkd-smoke")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("snnkd.role") == "method"]
    assert sorted((r.data.tags["snnkd.method"], r.data.tags["snnkd.seed"]) for r in runs) == [
        ("kd", "0"), ("kd", "1"), ("scratch", "0"), ("scratch", "1"),
    ]  # fmt: skip
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("train_seconds" in r.data.metrics for r in runs)  # timings live in MLflow
    board = pd.read_csv(repo / "results" / "smoke" / "leaderboard.csv")
    assert sorted(board["method"]) == ["kd", "scratch"] and set(board["n_seeds"]) == {2}
    for r in runs:
        m = json.loads(
            (
                repo
                / "results/smoke/runs/digits"
                / r.data.tags["snnkd.method"]
                / f"seed{r.data.tags['snnkd.seed']}"
                / "metrics.json"
            ).read_text()
        )
        assert m["test_accuracy"] == pytest.approx(r.data.metrics["test_accuracy"])
        assert "train_seconds" not in m and m["epochs"] >= 1
    text = (repo / "results" / "smoke" / "leaderboard.md").read_text()
    assert "## digits" in text and "epochs trained" in text and "teacher" in text
    ckpt = repo / "results" / "smoke" / "checkpoints" / "digits" / "kd" / "seed0.pt"
    assert ckpt.is_file()
    assert subprocess.run(["git", "check-ignore", "-q", str(ckpt)], cwd=repo).returncode == 0
    metrics = repo / "results" / "smoke" / "runs" / "digits" / "kd" / "seed0" / "metrics.json"
    assert subprocess.run(["git", "check-ignore", "-q", str(metrics)], cwd=repo).returncode == 1
    assert not (repo / "runs" / "work").exists() or not any((repo / "runs" / "work").iterdir())


def test_a_fresh_copy_under_load_reproduces_every_published_byte(two_runs):
    first, second, _, _ = two_runs
    a, b = published(first), published(second)
    assert len(a) == 2 * 2 * len(PUBLISHED) + 1 * len(PUBLISHED) + 2  # runs, the teacher, the board
    assert a.keys() == b.keys()
    differ = [name for name in a if a[name] != b[name]]
    assert differ == []


def test_no_op_and_honest_dependencies(two_runs):
    repo, _, env, _ = two_runs
    again = sh(["dvc", "repro"], repo, env)
    assert "Running stage" not in again and "up to date" in again

    plugin = repo / "methods" / "kd.py"
    original = plugin.read_text()
    plugin.write_text(original + "\n# an edit\n")
    assert _changed(repo, env) == {"tune@smoke-digits-kd", "method@smoke-digits-kd"}
    plugin.write_text(original)

    params = repo / "params.yaml"
    text = params.read_text()
    full = yaml.safe_load(text)
    data = full["suites"]["smoke"]
    data["budgets"]["digits"]["train"]["epochs"] = 5  # a student budget
    params.write_text(yaml.safe_dump(full))
    changed = _changed(repo, env)
    assert not any(stage.startswith("network@") for stage in changed)
    assert {"method@smoke-digits-kd", "method@smoke-digits-scratch"} <= changed
    data["methods"]["kd"]["hparams"]["alpha"] = 0.7  # one method's parameter
    data["budgets"]["digits"]["train"]["epochs"] = 4
    params.write_text(yaml.safe_dump(full))
    # the leaderboard reads the suite's settings too (sweeps, margin, budgets in the report): it re-renders
    changed = {"setup", "tune@smoke-digits-kd", "method@smoke-digits-kd", "leaderboard@smoke"}
    assert _changed(repo, env) == changed
    params.write_text(text)
