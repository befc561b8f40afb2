"""Tracking against a real ``mlflow server`` on 127.0.0.1 (SQLite and PostgreSQL backends).

The server owns the artifact store (``--artifacts-destination``): a run's files
must land there, not in the client's folder; experiments are typed as classic
ML experiments; run names say role, dataset, model, method and seed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from snnkd.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """Start ``mlflow server`` with a given backend; returns (url, artifact folder). Stopped afterwards."""
    procs: list[subprocess.Popen] = []

    def start(backend: str) -> tuple[str, Path]:
        port = _free_port()
        store = tmp_path / "server-artifacts"
        log = (tmp_path / "server.log").open("w")
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
               "--artifacts-destination", str(store), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):  # readiness, not timing: the server answers /health once it is up
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        return url, store
            except OSError:
                time.sleep(0.5)
        pytest.fail("mlflow server did not answer /health")

    yield start
    for proc in procs:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "client"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _server_files(store: Path) -> dict[str, Path]:
    return {p.name: p for p in store.rglob("*") if p.is_file()}


def _check_experiment(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    assert exp.artifact_location.startswith("mlflow-artifacts:/")  # the server's store, not the client's
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # classic ML, not GenAI
    return exp.experiment_id


def test_tracked_run_and_leaderboard_through_a_sqlite_server(tmp_path, in_tmp, mlflow_server, monkeypatch,
                                                             capsys):  # fmt: skip
    from mlflow import MlflowClient

    from snnkd.pipeline import suite
    from snnkd.results import leaderboard

    url, store = mlflow_server(f"sqlite:///{tmp_path / 'server.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    s = suite.parse({**yaml.safe_load((ROOT / "benchmarks" / "smoke.yaml").read_text()),
                     "suite": "server", "methods": {"scratch": {}}}, "test")  # fmt: skip
    out = suite.run_dir(
        "server", "digits", "scratch", 0
    )  # where the leaderboard looks for the run's run.json
    args = ["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--suite", "server"]
    assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
    result = leaderboard.build(s, in_tmp / "results", uri=url)

    board = (in_tmp / "results" / "leaderboard.csv").read_text().splitlines()
    assert len(board) == 2 and ",scratch," in f",{board[1]},"
    client = MlflowClient(url)
    exp_id = _check_experiment(client, s.experiment())
    (run,) = client.search_runs([exp_id], filter_string="tags.`snnkd.role` = 'method'")
    assert run.info.run_name == "method/digits/student/scratch/seed0"
    shipped = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "run.json", "curve.csv"} <= shipped
    on_server = _server_files(store)
    assert {"metrics.json", "run.json", "curve.csv", "leaderboard.json", "pareto.png"} <= set(on_server)
    assert not (in_tmp / "mlartifacts").exists() and not (in_tmp / "mlruns").exists()
    assert result["files"]["md"]


def test_snnkd_train_tracks_by_default_into_a_postgresql_server(tmp_path, in_tmp, mlflow_server,
                                                               monkeypatch, capsys):  # fmt: skip
    import psycopg
    from mlflow import MlflowClient

    name = f"snnkd_mlflow_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(**PG, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at {PG['host']}:{PG['port']}: {err}", pytrace=False)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url, store = mlflow_server(f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        args = ["train", "--dataset", "digits", "--model", "assistant", "--epochs", "1", "--quiet"]
        assert main([*args, "--out", "teacher"]) == 0, capsys.readouterr().err  # no --track needed
        assert main([*args, "--out", "untracked", "--seed", "1", "--no-track"]) == 0

        client = MlflowClient(url)
        exp_id = _check_experiment(client, "snnkd-adhoc")
        (run,) = client.search_runs([exp_id])  # the --no-track run is not there
        assert run.info.run_name == "method/digits/assistant/scratch/seed0" and run.info.status == "FINISHED"
        assert run.data.metrics["test_accuracy"] > 0
        assert {"metrics.json", "run.json"} <= set(_server_files(store))
        assert not (in_tmp / "mlartifacts").exists() and not (in_tmp / "mlruns").exists()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(tmp_path / "server-artifacts", ignore_errors=True)
