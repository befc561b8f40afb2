"""The reproducible pipeline: suite validation, concurrent MLflow logging, `dvc repro` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from snnkd import suite as S
from snnkd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "benchmarks" / "smoke.yaml"


def smoke_data() -> dict:
    return yaml.safe_load(SMOKE.read_text())


# -- params.yaml validation: fails before any training, naming the key -------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["methods"].update({"no-such": {}}), "methods.no-such: unknown method"),
        (lambda d: d["methods"].update({"kd + no-such": {}}), "methods.kd + no-such: unknown method"),
        (lambda d: d.pop("seeds"), "seeds: Field required"),
        (lambda d: d.update(seeds="zero"), "seeds: Input should be a valid list"),
        (lambda d: d["methods"]["kd"]["hparams"].update(alpha=2.0), "methods.kd.hparams.alpha"),
        (lambda d: d["methods"]["kd"]["hparams"].update(gamma=1), "methods.kd.hparams.gamma"),
        (lambda d: d["common"].update(T="four"), "common: T: Input should be a valid integer"),
        (lambda d: d["groups"].update(none=["scratch", "kd"]), "groups.none: 'kd'"),
        (lambda d: d["groups"].update(teacher=[]), "groups: method 'kd' is in no group"),
        (lambda d: d.update(datasets=["cifar99"]), "datasets.0: unknown dataset 'cifar99'"),
        (lambda d: d["methods"].pop("scratch"), "reference method 'scratch' is required"),
        (lambda d: d["budgets"]["digits"]["train"].update(epochs=0), "budgets.digits: train.epochs"),
        (lambda d: d.update(student="huge"), "student: model: unknown model 'huge'"),
    ],
)
def test_malformed_params_name_the_key(tmp_path, edit, message):
    data = smoke_data()
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        S.load(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_default_suite_is_valid_and_complete():
    from snnkd.methods import discover

    suite = S.load(ROOT / "benchmarks" / "default.yaml")
    builtin = {name for name, m in discover().items() if m.doc and m.paper != "test"}
    assert set(suite.methods) == builtin
    assert suite.datasets == ["digits", "mnist1d"] and len(suite.seeds) == 3


def test_a_composition_is_a_suite_method():
    data = smoke_data()
    data["methods"]["kd+logit-reg"] = {"hparams": {"tau": 2.0, "alpha": 0.5, "lambda_z": 0.1}}
    data["groups"]["teacher"].append("kd+logit-reg")
    suite = S.Suite.model_validate(data)
    S.check(suite, "params.yaml")
    cfg = suite.method_config("digits", "kd+logit-reg", 0, tuned=False)
    assert cfg["teacher"].endswith("digits/teacher/checkpoint.pt")
    assert cfg["hparams"] == {"tau": 2.0, "alpha": 0.5, "lambda_z": 0.1}


def test_method_configs_get_the_right_teacher_and_readout():
    suite = S.load(ROOT / "benchmarks" / "default.yaml")
    assert "teacher" not in suite.method_config("digits", "scratch", 1)
    kd = suite.method_config("digits", "kd", 1)
    assert kd["teacher"] == "results/networks/digits/teacher/checkpoint.pt" and kd["seed"] == 1
    spikes = suite.method_config("mnist1d", "kd-spike-train", 2)
    assert spikes["teacher"] == "results/networks/mnist1d/teacher-spiking/checkpoint.pt"
    assert spikes["readout"] == "spiking"
    assert suite.network_config("mnist1d", "teacher-spiking")["readout"] == "spiking"
    assert suite.method_config("digits", "multistage", 0)["teacher"].endswith(
        "digits/assistant/checkpoint.pt"
    )
    assert (
        suite.method_config("digits", "md-snn", 2)["teacher"]
        == "results/runs/digits/scratch/seed2/checkpoint.pt"
    )
    assert suite.network_config("digits", "assistant")["teacher"].endswith("digits/teacher/checkpoint.pt")


# -- two processes logging to one SQLite store -------------------------------------------------

WRITER = """
import sys, pathlib
from snnkd.tracking import Tracker
t = Tracker(experiment="snnkd-conc", run_name=sys.argv[1], params={f"p{i}": i for i in range(50)},
            tags={"snnkd.role": "method", "snnkd.writer": sys.argv[1]}, state_dir=pathlib.Path(sys.argv[2]))
for epoch in range(1, 151):
    t.on_epoch(epoch, {"loss": 1.0 / epoch, "val_accuracy": epoch / 150, "epoch_seconds": 0.01})
t.finish({"test_accuracy": 0.5, "epochs": 150}, [], {"snnkd.done": "yes"})
"""


def test_two_processes_log_to_one_sqlite_store_without_loss(tmp_path):
    from mlflow import MlflowClient

    from snnkd import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run([sys.executable, "-m", "snnkd.cli", "tracking", "init", "--suite", "conc"],
                   env=env, check=True, cwd=tmp_path, capture_output=True)  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}", str(tmp_path / f"w{i}")], env=env, cwd=tmp_path
        )
        for i in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("snnkd-conc")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["snnkd.writer"] for r in runs) == ["w0", "w1"]
    for r in runs:
        assert r.info.status == "FINISHED"
        assert len(r.data.params) == 50 and r.data.tags["snnkd.done"] == "yes"
        history = client.get_metric_history(r.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(1, 151))
        assert r.data.metrics["test_accuracy"] == 0.5
        assert r.data.metrics["tracking_seconds"] < r.data.metrics["wall_seconds"]
    assert tracking.tracking_uri() != uri or os.environ.get("MLFLOW_TRACKING_URI") == uri


def test_failed_run_is_marked_failed(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from snnkd import tracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = tracking.Tracker(experiment="snnkd-fail", run_name="x", params={}, tags={}, state_dir=tmp_path)
    with pytest.raises(RuntimeError), tracking.track(tracker):
        tracker.on_epoch(1, {"loss": 1.0})
        raise RuntimeError("diverged")
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("snnkd-fail").experiment_id])
    assert run.info.status == "FAILED"
    assert json.loads((tmp_path / tracking.RUN_FILE).read_text())["run_id"] == run.info.run_id


def test_repo_root_sees_through_dvc_temp_copies(tmp_path):
    from snnkd.tracking import repo_root

    (tmp_path / ".dvc").mkdir()
    inner = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc" / "src"
    inner.mkdir(parents=True)
    assert repo_root(inner) == tmp_path.resolve()


# -- dvc repro end to end on the smoke suite ---------------------------------------------------


def _sh(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _copy_repo(dest: Path) -> None:
    """The working tree's files (tracked and untracked, not ignored) in a fresh git repository."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def test_smoke_suite_dvc_repro_end_to_end(tmp_path):
    from mlflow import MlflowClient

    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_repo(repo)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # the environment's own `dvc` and `snnkd`, also when the venv is not activated (as in CI)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    _sh(["git", "init", "-q"], repo, env)
    _sh(["snnkd", "suite", "use", "smoke"], repo, env)
    _sh(["git", "add", "-A"], repo, env)
    _sh(["git", "commit", "-qm", "copy"], repo, env)

    out = _sh(["dvc", "repro"], repo, env)
    assert "Running stage 'leaderboard'" in out

    # the leaderboard against the MLflow runs in the repository's default store
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("snnkd-smoke")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("snnkd.role") == "method"]
    assert sorted(r.data.tags["snnkd.method"] for r in runs) == ["kd", "scratch"]
    assert all(r.info.status == "FINISHED" for r in runs)
    board = pd.read_csv(repo / "results" / "leaderboard.csv")
    assert list(board.columns) == [
        "dataset", "rank", "method", "n_seeds", "test_acc_mean", "test_acc_std", "delta_acc", "p_value",
        "spikes_per_sample", "spikes_change_pct", "firing_rate", "synops", "energy_pj", "energy_pj_std",
        "weight_bits", "model_size_bits", "pareto",
    ]  # fmt: skip
    assert sorted(board["method"]) == ["kd", "scratch"] and set(board["dataset"]) == {"digits"}
    for r in runs:
        row = board[board["method"] == r.data.tags["snnkd.method"]].iloc[0]
        assert row["n_seeds"] == 1
        assert row["test_acc_mean"] == pytest.approx(r.data.metrics["test_accuracy"], abs=1e-6)
        assert row["energy_pj"] == pytest.approx(r.data.metrics["energy_pj"], rel=1e-5)
        assert r.data.tags["snnkd.dvc_stage"].startswith("method-")
        assert "mlflow.source.git.commit" in r.data.tags
        history = client.get_metric_history(r.info.run_id, "loss")
        assert [m.step for m in history] == [1]
    kd = next(r for r in runs if r.data.tags["snnkd.method"] == "kd")
    teacher_run = client.get_run(kd.data.tags["snnkd.teacher_run"])
    assert teacher_run.data.tags["snnkd.role"] == "teacher"
    text = (repo / "results" / "leaderboard.md").read_text()
    assert "## digits" in text and "| kd " in text and "Runs left out: 0." in text
    assert (repo / "results" / "pareto.png").stat().st_size > 1000
    assert (repo / "results" / "firing_rates.png").stat().st_size > 1000

    # per-run metrics.json and curves in git, checkpoints in the DVC cache
    run = repo / "results" / "runs" / "digits" / "kd" / "seed0"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(run / "metrics.json")], cwd=repo)
    assert ignored.returncode == 1
    assert subprocess.run(["git", "check-ignore", "-q", str(run / "checkpoint.pt")], cwd=repo).returncode == 0
    metrics = json.loads(_sh(["dvc", "metrics", "show", "--json"], repo, env))
    shown = json.dumps(metrics)
    assert "results/runs/digits/kd/seed0/metrics.json" in shown
    assert not (repo / "runs" / "work").exists() or not any((repo / "runs" / "work").iterdir())

    # a second repro does nothing
    again = _sh(["dvc", "repro"], repo, env)
    assert "Running stage" not in again and "up to date" in again

    # changing one method's parameter invalidates only that method's stage (and the params check)
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["methods"]["kd"]["hparams"]["alpha"] = 0.7
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    status = json.loads(_sh(["dvc", "status", "--json"], repo, env))
    status.pop("data.dvc", None)  # data/raw/ is absent, as in a clone with no DVC remote
    assert set(status) == {"setup", "tune-teacher@digits-kd", "method-teacher@digits-kd-0"}

    # the method stage runs with the tune stage's file; a new tuned file re-runs that method only
    (repo / "params.yaml").write_text(original)
    tuned = repo / "results" / "tuned" / "digits" / "kd.yaml"
    assert yaml.safe_load(tuned.read_text())["hparams"] == params["methods"]["kd"]["hparams"] | {"alpha": 0.5}
    kd_run = json.loads((run / "run.json").read_text())
    assert kd_run["hparams"] == yaml.safe_load(tuned.read_text())["hparams"]
    tuned.write_text("dataset: digits\nmethod: kd\nhparams: {tau: 2.0, alpha: 0.3}\n")
    status = json.loads(_sh(["dvc", "status", "--json"], repo, env))
    status.pop("data.dvc", None)
    assert set(status) == {"tune-teacher@digits-kd", "method-teacher@digits-kd-0"}
    from snnkd.suite import load

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)
        assert load(repo / "params.yaml").method_config("digits", "kd", 0)["hparams"] == {
            "tau": 2.0,
            "alpha": 0.3,
        }
