"""Optuna studies (``snnkd tune``), against the real PostgreSQL server of the project.

Every database test creates and drops its own database. A server that cannot
be reached is a failure, not a skip: distributed tuning is a feature of the
suite, and CI starts the server (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch  # noqa: F401  (imported before the CLI runs, so its import warnings stay out of captured output)
import yaml

from snnkd.cli.main import main

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
SECRET = "S3cr3t-Pw_do-not-log"


def _admin():
    import psycopg

    try:
        conn = psycopg.connect(**PG, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG['host']}:{PG['port']} (database {PG['dbname']}): "
            f"{str(err).strip()}. Start it with: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start",
            pytrace=False,
        )
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped afterwards); its URL carries a password."""
    name = f"snnkd_tune_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG['user']}:{SECRET}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Iterator[Path]:
    """Run in a temporary folder with its own MLflow store; torch's thread count restored after."""
    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield tmp_path
    torch.set_num_threads(threads)


def _args(method: str = "logit-reg", trials: int = 2, epochs: int = 1, *extra: str) -> list[str]:
    return [
        "tune",
        "--method",
        method,
        "--dataset",
        "digits",
        "--trials",
        str(trials),
        "--epochs",
        str(epochs),
        "--quiet",
        *extra,
    ]


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "snnkd.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _study(url: str, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(url[len("journal://") :]))
    else:
        from snnkd.tune.storage import with_driver

        storage = optuna.storages.RDBStorage(with_driver(url))
    return optuna.load_study(study_name=name, storage=storage)


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended (rc {proc.returncode}) before {what}:\n{err[-2000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _running_mid_trial(url: str, name: str):
    """A running trial that has reported at least one epoch, and its worker's pid."""
    from optuna.trial import TrialState

    try:
        study = _study(url, name)
    except Exception:  # not created yet
        return None
    for t in study.get_trials(states=(TrialState.RUNNING,)):
        tag = t.user_attrs.get("worker")
        if t.intermediate_values and isinstance(tag, dict) and tag.get("trial") == t.number:
            return t.number, int(tag["pid"])
    return None


# --- unit level -------------------------------------------------------------------------------


def test_search_space_comes_from_the_plugin():
    from snnkd.tune.space import search_space

    kd = search_space("kd")
    assert set(kd) == {"tau", "alpha"} and kd["tau"].log and not kd["alpha"].log
    act = search_space("act-reg")
    assert act["p"].choices == (1, 2) and act["lambda_a"].log
    assert set(search_space("kd + logit-reg")) == {"tau", "alpha", "lambda_z"}
    assert set(search_space("act-reg", fixed={"p": 2})) == {"lambda_a"}


def test_pareto_choice_is_lowest_activity_within_half_a_point():
    from snnkd.tune.pareto import Point, choose, front

    pts = [
        Point(0, 0.950, 900.0, {}),
        Point(1, 0.948, 500.0, {}),  # within 0.5 points of the best: chosen
        Point(2, 0.940, 200.0, {}),  # too far below
        Point(3, 0.930, 600.0, {}),  # dominated by 1
    ]
    assert [p.number for p in front(pts)] == [2, 1, 0]
    assert choose(pts).number == 1


def test_mask_hides_the_password():
    from snnkd.tune.storage import mask, scrub

    url = f"postgresql://alice:{SECRET}@db.example:5432/studies"
    assert mask(url) == "postgresql://alice:***@db.example:5432/studies"
    assert SECRET not in scrub(f"could not use {url}; password {SECRET}", url)


def test_published_storage_is_relative_inside_the_checkout(tmp_path, monkeypatch):
    from snnkd.tune.storage import default_storage, published

    monkeypatch.chdir(tmp_path)
    assert published(default_storage("digits", "kd")) == "journal://runs/tuning/digits/kd.journal"
    assert published("journal:///elsewhere/kd.journal") == "journal:///elsewhere/kd.journal"
    url = f"postgresql://alice:{SECRET}@db.example:5432/studies"
    assert published(url) == "postgresql://alice:***@db.example:5432/studies"


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--objective", "latency"], "--objectives: 'latency' is not a valid objective"),
        (["--objectives", "accuracy,spikes,energy"], "valid choices: accuracy | accuracy,spikes"),
        (["--method", "scratch"], "'scratch' has an empty search space"),
        (["--method", "act-reg", "--hparam", "p=1", "--hparam", "lambda_a=0.1"], "empty search space"),
        (["--storage", f"postgresql://postgres:{SECRET}@127.0.0.1:1/nowhere"], "--storage: cannot use"),
        (["--storage", "nosuchdb://x/y"], "--storage: cannot use"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(in_tmp, capsys, extra, expected):
    args = _args("logit-reg", 2, 1, *extra)  # a --method in extra comes later and wins
    code = main(args)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("snnkd: error: ") and expected in lines[0], err
    assert SECRET not in out + err
    assert not (in_tmp / "results").exists() and not (in_tmp / "runs/tune").exists()


# --- studies ----------------------------------------------------------------------------------


def test_three_workers_share_one_postgres_study(in_tmp, pg_url):
    """3 worker processes x 2 trials: exactly 6 complete trials, distinct numbers, nothing lost."""
    k = 2
    proc = _cli(
        _args(
            "logit-reg",
            3 * k,
            1,
            "--workers",
            "3",
            "--storage",
            pg_url,
            "--study",
            "shared",
            "--pruner",
            "none",
        ),
        in_tmp,
    )
    out, err = proc.communicate(timeout=150)
    assert proc.returncode == 0, err
    assert SECRET not in out + err
    from optuna.trial import TrialState

    trials = _study(pg_url, "shared").get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 * k
    # a worker that asked while the last trials were finishing holds a surplus trial: failed,
    # marked, numbered after the budget, and never trained (the race between workers is by design)
    surplus = [t for t in trials if t not in complete]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get("surplus") for t in surplus)
    assert all(t.number >= 3 * k for t in surplus) and len(surplus) < 3
    assert sorted(t.number for t in complete) == list(range(3 * k))
    assert all(t.value is not None and t.user_attrs["val_accuracy"] == t.value for t in complete)
    pids = {t.user_attrs["worker"]["pid"] for t in complete}
    assert len(pids) >= 2, "the trials were not spread over the worker processes"

    # every trial is a nested MLflow run under the study's one parent run, holding the same value
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{in_tmp / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("snnkd-tuning").experiment_id])
    parents = [r for r in runs if r.data.tags.get("snnkd.kind") == "study"]
    children = [r for r in runs if r.data.tags.get("snnkd.kind") == "trial"]
    assert len(parents) == 1 and len(children) == 3 * k
    parent = parents[0]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    by_trial = {int(r.data.tags["snnkd.trial"]): r for r in children}
    for t in complete:
        assert by_trial[t.number].data.metrics["val_accuracy"] == pytest.approx(t.value)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(max(t.value for t in complete))
    tuned = yaml.safe_load((in_tmp / "runs/tune/tuned/digits/logit-reg.yaml").read_text())
    assert set(tuned["hparams"]) == {"lambda_z"} and tuned["method"] == "logit-reg"


def test_killed_worker_trial_is_failed_and_retried(in_tmp, pg_url):
    """SIGKILL one worker mid-trial: its heartbeat stops, the trial fails, is re-queued and run."""
    from optuna.trial import TrialState

    args = _args(
        "logit-reg",
        4,
        12,
        *("--workers", "2", "--storage", pg_url, "--study", "crash", "--pruner", "none"),
        *("--heartbeat-interval", "1", "--grace-period", "3", "--no-mlflow"),
    )
    proc = _cli(args, in_tmp)
    try:
        number, pid = _wait_for(lambda: _running_mid_trial(pg_url, "crash"), 90, "a trial mid-training", proc)
        assert pid != proc.pid
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"exited with {-signal.SIGKILL}" in err
    trials = _study(pg_url, "crash").get_trials()
    killed = trials[number]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4


def test_journal_study_interrupted_and_restarted_continues(in_tmp):
    """Kill a single-worker journal study mid-trial; the same command finishes the remaining trials."""
    from optuna.trial import TrialState

    url = f"journal://{in_tmp / 'study.journal'}"
    args = _args("logit-reg", 4, 10, "--storage", url, "--study", "resume", "--pruner", "none", "--no-mlflow")
    proc = _cli(args, in_tmp)

    def two_done_and_one_running():
        try:
            trials = _study(url, "resume").get_trials()
        except Exception:
            return None
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        return len(done) >= 1 and _running_mid_trial(url, "resume")

    try:
        number, pid = _wait_for(two_done_and_one_running, 120, "one complete and one running trial", proc)
        assert pid == proc.pid  # one worker runs in the command's own process
        before = {
            t.number: t.params for t in _study(url, "resume").get_trials() if t.state == TrialState.COMPLETE
        }
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _study(url, "resume").trials[number].state == TrialState.RUNNING  # left behind by the kill

    again = _cli([a for a in args if a != "--quiet"], in_tmp)
    out, err = again.communicate(timeout=150)
    assert again.returncode == 0, err
    assert f"{len(before)} of 4 trials finished" in err
    trials = _study(url, "resume").get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert {n: trials[n].params for n in before} == before  # finished trials were kept, not re-run
    assert trials[number].state == TrialState.FAIL
    assert any(t.system_attrs.get("failed_trial") == number for t in complete)


def test_multi_objective_front_and_masked_password(in_tmp, pg_url, capsys):
    """accuracy,spikes on PostgreSQL: Pareto plot and tuned YAML; the password appears nowhere."""
    code = main(_args("logit-reg", 3, 1, "--objectives", "accuracy,spikes", "--storage", pg_url))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert SECRET not in out + err
    png = in_tmp / "runs/tune/tuning/digits/logit-reg-pareto.png"
    assert png.stat().st_size > 1000
    summary = json.loads((in_tmp / "runs/tune/tuning/digits/logit-reg-study.json").read_text())
    assert summary["objectives"] == ["accuracy", "spikes"] and summary["front"]
    import optuna

    (name,) = optuna.get_all_study_names(pg_url)  # optuna-dashboard's axes are named
    names = optuna.load_study(study_name=name, storage=pg_url).metric_names
    assert names == ["val_accuracy", "val_spikes_per_sample"]
    assert summary["storage"] == pg_url.replace(SECRET, "***")
    for path in (in_tmp / "runs/tune").rglob("*"):
        if path.is_file() and path.suffix != ".png":
            assert SECRET not in path.read_text(), path

    # the tuned file is a partial run config that `snnkd train --config` accepts
    from snnkd.core.config import load_yaml, validate

    cfg = validate(load_yaml(in_tmp / "runs/tune/tuned/digits/logit-reg.yaml"))
    assert cfg.method == "logit-reg" and "lambda_z" in cfg.hparams

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("snnkd-tuning").experiment_id])
    assert len(runs) == 4  # one parent, three trials
    for r in runs:
        blob = json.dumps({"params": r.data.params, "tags": r.data.tags})
        assert SECRET not in blob
    parent = next(r for r in runs if r.data.tags.get("snnkd.kind") == "study")
    assert parent.data.params["storage"].startswith("postgresql://postgres:***@")


# --- the pipeline's tune stage ----------------------------------------------------------------


def test_tune_stage_writes_a_file_for_every_method(in_tmp):
    """Untunable methods and a 0-trial budget get the suite's values; others a study's choice."""
    from snnkd.errors import ConfigError
    from snnkd.tune.stage import tune_stage, tuned_hparams, tuned_path

    scratch = {"dataset": "digits", "method": "scratch", "hparams": {}}
    tune_stage(scratch, trials=5, epochs=1, results_dir=in_tmp / "results", mlflow=False)
    assert tuned_hparams("digits", "scratch", in_tmp / "results") == {}
    suite = {"dataset": "digits", "method": "logit-reg", "hparams": {"lambda_z": 0.5}, "device": "cpu"}
    tune_stage(suite, trials=0, epochs=1, results_dir=in_tmp / "results", mlflow=False)
    assert tuned_hparams("digits", "logit-reg", in_tmp / "results") == {"lambda_z": 0.5}

    storage = f"journal://{in_tmp / 'stage.journal'}"
    path = tune_stage(
        suite, trials=2, epochs=1, storage=storage, results_dir=in_tmp / "results", mlflow=False
    )
    assert path == tuned_path("digits", "logit-reg", in_tmp / "results")
    chosen = tuned_hparams("digits", "logit-reg", in_tmp / "results")
    assert set(chosen) == {"lambda_z"} and chosen["lambda_z"] != 0.5  # searched, not fixed to the suite's
    trials = _study(storage, "pipeline-digits-logit-reg-accuracy-2x1-hyperband").get_trials()
    assert len(trials) == 2 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.user_attrs["val_accuracy"] > 0 for t in trials if t.state.name == "COMPLETE")
    path.write_text("dataset: digits\nmethod: kd\nhparams: {}\n")
    with pytest.raises(ConfigError):
        tuned_hparams("digits", "logit-reg", in_tmp / "results")
