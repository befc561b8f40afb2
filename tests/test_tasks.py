"""The one mechanism behind a stage's seeds and a batch's trials (snnkd.pipeline.tasks): outcomes in order,
failures reported, and no worker outliving its parent (kill -9 or SIGTERM of a method stage or of
`snnkd tune --workers 2`, checked by listing the processes of the killed command's session)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest
from smoke_repo import fresh_copy, sh, smoke_env

from snnkd.pipeline import tasks


def _square(x: int, delay: float) -> int:
    time.sleep(delay)
    if x == 3:
        raise ValueError("three is refused\nsecond line")
    return x * x


def test_outcomes_come_back_in_job_order_whichever_finishes_first():
    outcomes = tasks.run(_square, [(1, 0.3), (2, 0.0), (3, 0.0), (4, 0.1)], 4, backend_name="local")
    assert [o.value for o in outcomes if o.ok] == [1, 4, 16]
    assert outcomes[2].error == "ValueError: second line"
    with pytest.raises(ValueError, match="three"):
        tasks.values(outcomes)


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            pass
    return out


def _kill_when_workers_run(cmd: list[str], repo, env, workers: int, sig: int) -> list[psutil.Process]:
    """Start ``cmd`` in a session of its own, send ``sig`` once it has ``workers`` busy children,
    and return what is left of the session 10 s later."""
    proc = subprocess.Popen(cmd, cwd=repo, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while len(parent.children(recursive=True)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # the workers are training
    assert proc.poll() is None, "the command ended before it could be killed"
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    end = time.monotonic() + 10
    while _session(proc.pid) and time.monotonic() < end:
        time.sleep(0.2)
    return _session(proc.pid)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("orphans")
    env = smoke_env(tmp)
    repo = fresh_copy(tmp / "repo", env)
    sh(["snnkd", "pipeline", "setup"], repo, env)
    sh(["snnkd", "pipeline", "data", "digits"], repo, env)
    return repo, env


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_method_stage_leaves_no_worker(prepared, sig):
    repo, env = prepared
    cmd = ["snnkd", "pipeline", "method", "smoke", "digits", "scratch", "--jobs", "2"]
    assert _kill_when_workers_run(cmd, repo, env, 2, sig) == []


def test_a_killed_tuner_leaves_no_worker(prepared):
    repo, env = prepared
    cmd = ["snnkd", "tune", "--dataset", "digits", "--method", "logit-reg", "--epochs", "30"]
    cmd += ["--trials", "8", "--workers", "2", "--no-mlflow", "--quiet"]
    assert _kill_when_workers_run(cmd, repo, env, 2, signal.SIGKILL) == []
