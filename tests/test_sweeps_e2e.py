"""`dvc repro` of a suite with a 2-point sweep (digits, 1 epoch, 2 seeds): the variants run through the
`tune` and `method` stages and are published with their curve rows; the leaderboard and report built
from MLflow and from the published files are byte-identical; the leaderboard stage depends on every
module `snnkd leaderboard` imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from smoke_repo import IMPORTS, fresh_copy, sh, smoke_env

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("logit-reg.lambda_z-0.001", "logit-reg.lambda_z-0.1")
OUTPUTS = (
    "leaderboard.csv", "leaderboard.md", "report.html", "neurobench.csv", "pareto.png", "firing_rates.png",
)  # fmt: skip
SUITE = {
    "suite": "sweep-smoke",
    "datasets": ["digits"],
    "seeds": [0, 1],
    "jobs": 2,
    "student": "student",
    "common": {"T": 2, "encoder": "direct", "device": "cpu", "threads": 1,
               "train": {"batch_size": 128, "lr": 0.004}},
    "budgets": {"digits": {"train": {"epochs": 1}}},
    "networks": {},
    "methods": {"scratch": {}, "logit-reg": {"hparams": {"lambda_z": 0.01}}},
    "groups": {"none": ["scratch", "logit-reg"], "teacher": [], "spiking": [], "assistant": [], "twin": []},
    "tune": {"trials": 0, "objectives": "accuracy"},
    "sweeps": {"logit-reg": {"lambda_z": {"grid": "log", "points": 2, "low": 0.001, "high": 0.1}}},
}  # fmt: skip

# what prints the snnkd files a leaderboard built from files imports, relative to the package root

# the command whose imports the leaderboard stage must depend on
LEADERBOARD = ["leaderboard", "--from-files", "--no-log", "--out", "from-files"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    env = smoke_env(tmp)
    repo = fresh_copy(tmp / "repo", env)
    (repo / "params.yaml").write_text(yaml.safe_dump({"suites": {SUITE["suite"]: SUITE}}, sort_keys=False))
    sh(["snnkd", "suite", "plan"], repo, env)
    out = sh(["dvc", "repro"], repo, env)
    imported = sh([sys.executable, "-c", IMPORTS, *LEADERBOARD], repo, env).split()
    return repo, env, out, imported


def test_the_sweep_points_run_through_the_tune_and_method_stages_and_are_published(swept):
    from mlflow import MlflowClient

    repo, _, out, _ = swept
    for name in VARIANTS:
        stage = f"sweep-smoke-digits-{name}"
        assert f"Running stage 'tune@{stage}'" in out and f"Running stage 'method@{stage}'" in out
        tuned = (repo / "results" / "sweep-smoke" / "tuned" / "digits" / f"{name}.yaml").read_text()
        assert tuned.startswith("# Not tuned: a sweep point")
        for seed in (0, 1):
            folder = repo / "results" / "sweep-smoke" / "runs" / "digits" / name / f"seed{seed}"
            record = json.loads((folder / "run.json").read_text())
            assert record["config"]["method"] == "logit-reg"
            assert record["config"]["hparams"] == {"lambda_z": float(name.rsplit("-", 1)[1])}
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("snnkd-sweep-smoke")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("snnkd.role") == "method"]
    tagged = sorted((r.data.tags.get("snnkd.variant", "-"), r.data.tags["snnkd.method"]) for r in runs)
    assert tagged == sorted([(v, "logit-reg") for v in VARIANTS for _ in (0, 1)]
                            + [("-", "logit-reg")] * 2 + [("-", "scratch")] * 2)  # fmt: skip
    board = pd.read_csv(repo / "results" / "sweep-smoke" / "leaderboard.csv")
    assert sorted(board["method"]) == ["logit-reg", "scratch"]  # the sweep's points are curve rows
    text = (repo / "results" / "sweep-smoke" / "leaderboard.md").read_text()
    curve = text.split("### digits: trade-off curves", 1)[1].split("###", 1)[0]
    rows = [line for line in curve.splitlines() if line.startswith("| ")][1:]
    assert [r.split("|")[2].strip() for r in rows] == ["scratch", *VARIANTS]
    assert all(r.split("|")[4].strip() == "2" for r in rows)  # every point over both seeds
    assert "logit-reg (lambda_z sweep)" in text.split("activity at iso-accuracy", 1)[1]
    assert "Runs left out: 0." in text


def test_the_report_from_mlflow_and_from_files_is_byte_identical(swept):
    repo, _, _, _ = swept
    for name in OUTPUTS:
        assert (repo / "from-files" / name).read_bytes() == (
            repo / "results" / "sweep-smoke" / name
        ).read_bytes(), name


def test_the_leaderboard_stage_depends_on_every_module_it_imports(swept):
    _, _, _, imported = swept
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["leaderboard"]["do"]
    deps = [d for d in stage["deps"] if d.startswith("src/")]
    missing = [f for f in imported if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
    assert "src/snnkd/results/tradeoff.py" in imported and missing == []
    assert stage["params"] == ["suites.${item}"]  # the suite's whole settings, no other suite's
    assert subprocess.run(["git", "ls-files", "--error-unmatch", *deps], cwd=ROOT,
                          capture_output=True).returncode == 0  # fmt: skip
