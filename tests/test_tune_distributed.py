"""Issue 12: concurrency. A fresh MLflow store opened by 4 processes at once; separate tuners on one study.

Every process here is a real ``snnkd`` command (``python -m snnkd.cli.main``), started at the same moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"snnkd_h12_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(**PG, connect_timeout=5, autocommit=True)
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "snnkd.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen], timeout: float = 400) -> list[str]:
    errs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        errs.append(err)
    return errs


def _client(cwd: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")


def test_four_tracked_runs_on_a_fresh_store(tmp_path):
    """4 ``snnkd train --track`` processes create the store at once: all FINISHED, the store sound."""
    procs = [
        _start(
            [
                "train",
                "--epochs",
                "1",
                "--device",
                "cpu",
                "--quiet",
                "--seed",
                str(i),
                "--out",
                f"r{i}",
                "--track",
            ],
            tmp_path,
        )
        for i in range(4)
    ]
    _finish(procs)
    client = _client(tmp_path)
    runs = client.search_runs([client.get_experiment_by_name("snnkd-adhoc").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 4
    assert sorted(r.data.tags["snnkd.seed"] for r in runs) == ["0", "1", "2", "3"]
    # and the store stays usable: `snnkd tracking init` on it
    init = _start(["tracking", "init", "--suite", "h12"], tmp_path)
    (err,) = _finish([init])
    assert err == ""


def test_a_broken_store_is_one_line(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"this is not a database" * 100)
    res = subprocess.run(
        [sys.executable, "-m", "snnkd.cli.main", "tracking", "init"],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith(
        f"snnkd: error: mlflow: cannot open the store sqlite:///{tmp_path}/mlflow.db: "
    )


def _tune(storage: str, trials: int, *extra: str) -> list[str]:
    return [
        "tune",
        "--method",
        "logit-reg",
        "--dataset",
        "digits",
        "--device",
        "cpu",
        "--trials",
        str(trials),
        "--epochs",
        "1",
        "--pruner",
        "none",
        "--storage",
        storage,
        "--study",
        "scale-out",
        "--quiet",
        *extra,
    ]


def _trials(storage: str):
    import optuna
    from optuna.trial import TrialState

    from snnkd.tune.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="scale-out", storage=open_storage(storage, 10, 60, 3))
    return [t for t in study.get_trials() if t.state == TrialState.COMPLETE]


def test_three_separate_tuners_on_one_journal_study_never_repeat_and_share_one_parent(tmp_path):
    storage = f"journal:///{tmp_path / 'study.journal'}"
    procs = [_start(_tune(storage, 6), tmp_path) for _ in range(3)]
    _finish(procs)
    complete = _trials(storage)
    assert len(complete) == 6
    points = [t.params["lambda_z"] for t in complete]
    assert len(set(points)) == 6, points
    # exactly one parent run, FINISHED, holding every trial; no parent was made and deleted
    from mlflow.entities import ViewType

    client = _client(tmp_path)
    exp = client.get_experiment_by_name("snnkd-tuning").experiment_id
    runs = client.search_runs([exp], run_view_type=ViewType.ALL)
    parents = [r for r in runs if r.data.tags.get("snnkd.kind") == "study"]
    children = [r for r in runs if r.data.tags.get("snnkd.kind") == "trial" and r.info.status == "FINISHED"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].info.lifecycle_stage == "active"
    assert len(children) == 6
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    # an ad-hoc study does not touch the pipeline's tuned files
    assert (tmp_path / "runs/tune/tuned/digits/logit-reg.yaml").is_file()
    assert not (tmp_path / "results").exists()


def test_two_separate_tuners_on_one_postgres_study_never_repeat(tmp_path, pg_url):
    procs = [_start(_tune(pg_url, 6, "--no-mlflow"), tmp_path) for _ in range(2)]
    _finish(procs)
    complete = _trials(pg_url)
    points = [t.params["lambda_z"] for t in complete]
    assert len(complete) == 6 and len(set(points)) == 6, points


def test_a_lone_tuner_is_reproducible_and_separate_samplers_differ(tmp_path):
    """Unit level: two samplers with one seed on one study propose distinct points; a rerun repeats them."""
    import optuna

    from snnkd.tune.spec import TuneSpec
    from snnkd.tune.worker import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def points(n_tuners: int) -> list[float]:
        spec = TuneSpec(base={}, trials=12, storage="x.journal", study="s", sampler_seed=3)
        storage = optuna.storages.InMemoryStorage()
        optuna.create_study(storage=storage, study_name="s")
        tuners = [
            optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(spec))
            for _ in range(n_tuners)
        ]
        out = []
        for i in range(12):  # the tuners take turns, as separate commands would
            study = tuners[i % n_tuners]
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            study.tell(trial, (x - 0.3) ** 2)
            out.append(x)
        return out

    shared = points(2)
    assert len(set(shared)) == 12
    assert points(1) == points(1)
    assert points(1) == shared  # the point of trial n depends on n and the study, not on the process


def test_surplus_trials_are_not_reported_with_a_traceback():
    """Optuna's two warnings about a surplus trial (a harmless race between tuners) are dropped."""
    import logging

    from snnkd.tune.worker import SurplusFilter

    f = SurplusFilter()

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("optuna.study._optimize", logging.WARNING, __file__, 1, msg, None, None)

    surplus = "Trial 7 failed with parameters: {} because of the following error: SurplusTrial('late')."
    assert not f.filter(record(surplus))
    assert not f.filter(record("Trial 7 failed with value None."))
    assert f.filter(record("Trial 8 failed with value None."))  # a real failure is still reported
    assert f.filter(record("Trial 9 failed with parameters: {} because of the following error: E()."))
