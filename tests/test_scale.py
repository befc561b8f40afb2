"""`snnkd scale` on real Ray clusters: the smoke suite through the executor is byte-identical to a
plain `dvc repro`, its final `dvc repro` executes nothing, a second run runs nothing, a killed
worker's task is retried with the same outputs; two simulated nodes give the same outputs; trials
of one study trained as Ray tasks are distinct and told in order."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from smoke_repo import fresh_copy, published, sh

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray cluster of 2 CPUs for the session; its workers import the tests' helper modules."""
    tests = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, old]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old


def _with_ray_auth(env: dict) -> dict:
    """``env`` with this process's Ray authentication settings: the local test cluster turned token
    authentication on (``RAY_AUTH_MODE=token``) after ``env`` was copied, and a process that connects
    to an explicit address never turns it on by itself."""
    return {**env, **{k: v for k, v in os.environ.items() if k.startswith("RAY_AUTH")}}


def _kill_stage_worker_once(stage_cmd: str, killed: list[int], stop: threading.Event) -> None:
    """kill -9 the Ray worker running the task of the stage whose command is ``stage_cmd``, once
    that command has trained for a few seconds."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["cmdline", "create_time"]):
            cmdline = " ".join(p.info["cmdline"] or [])
            if stage_cmd in cmdline and "dvc" not in cmdline and time.time() - p.info["create_time"] > 6:
                worker = next((a for a in p.parents() if "run_stage" in " ".join(a.cmdline())), None)
                if worker is not None:
                    worker.kill()
                    killed.append(worker.pid)
                    return
        time.sleep(0.3)


def test_smoke_suite_through_the_executor(ray_local, smoke_plain, tmp_path, monkeypatch):
    from snnkd.scale import driver

    plain, env, _ = smoke_plain
    repo = fresh_copy(tmp_path / "repo", env)
    for k in ("PATH", "SNNKD_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(
        target=_kill_stage_worker_once, args=("pipeline method smoke digits kd", killed, stop), daemon=True
    )
    killer.start()
    try:
        report = driver.run(repo)
    finally:
        stop.set()
    assert killed, "no worker was killed"
    assert published(repo) == published(plain)  # every published file, byte for byte
    assert {r.stage for r in report.ran} == {
        "setup", "data@digits", "network@smoke-digits-teacher", "tune@smoke-digits-scratch",
        "tune@smoke-digits-kd", "method@smoke-digits-scratch", "method@smoke-digits-kd", "leaderboard@smoke",
    }  # fmt: skip
    logs = list((repo / "runs" / "scale").glob("*/method_smoke-digits-kd.log"))
    assert (
        sum(log.read_text().count("$ dvc repro method@smoke-digits-kd") for log in logs) == 2
    )  # retried once
    again = sh(["dvc", "repro"], repo, env)
    assert "Running stage" not in again  # the driver's own final repro left everything up to date
    second = subprocess.run(["snnkd", "scale"], cwd=repo, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "every stage is up to date; nothing to run" in second.stderr


def test_a_suite_without_reference_networks_through_the_executor(ray_local, tmp_path, monkeypatch):
    """A suite whose methods learn from no network (``networks: {}``, a sweep of regularisers) has
    an empty ``results/<suite>/networks/``, which its leaderboard stage depends on and git does not
    carry: the executor makes it in the stage's workspace and in its own checkout, as setup does."""
    from smoke_repo import smoke_env

    env = smoke_env(tmp_path)
    repo = fresh_copy(tmp_path / "repo", env)
    spec = repo / "benchmarks" / "smoke.yaml"
    text = spec.read_text()
    for old, new in (
        (
            "networks:\n  teacher: {model: assistant, budgets: {digits: {train: {epochs: 3}}}}\n",
            "networks: {}\n",
        ),
        ("  kd: {hparams: {tau: 4.0, alpha: 0.5}}\n", ""),
        ("  teacher: [kd]\n", "  teacher: []\n"),
    ):
        assert old in text
        text = text.replace(old, new)
    spec.write_text(text)
    sh(["snnkd", "suite", "use", "smoke"], repo, env)
    sh(["git", "commit", "-qam", "smoke without networks"], repo, env)
    assert not (repo / "results" / "smoke" / "networks").exists()
    done = subprocess.run(
        ["snnkd", "scale"], cwd=repo, env=_with_ray_auth(env), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "leaderboard@smoke: ran" in done.stderr
    assert (repo / "results" / "smoke" / "networks").is_dir()
    assert (repo / "results" / "smoke" / "leaderboard.md").is_file()
    assert "Running stage" not in sh(["dvc", "repro"], repo, env)


def test_two_nodes_each_with_its_own_workspace(smoke_plain, tmp_path):
    from ray.cluster_utils import Cluster

    plain, env, _ = smoke_plain
    repo = fresh_copy(tmp_path / "repo", env)
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        sh(["snnkd", "scale", "--address", cluster.address], repo, _with_ray_auth(env))
    finally:
        cluster.shutdown()
    nodes = [d for d in (repo / "runs" / "scale").iterdir() if d.is_dir()]
    assert len(nodes) == 2  # stages ran on both nodes, each in its own workspaces
    assert published(repo) == published(plain)


def test_trials_as_ray_tasks_are_distinct_and_told_in_order(ray_local, tmp_path, monkeypatch):
    import test_tune_batch as batch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local = batch._history(tmp_path / "local", 0)
    monkeypatch.setenv("SNNKD_RAY_ADDRESS", ray_local.get_runtime_context().gcs_address)
    on_ray = batch._history(tmp_path / "ray", 0)
    assert on_ray == local  # asked in order, trained in 2 tasks at once, told in order
    assert len({tuple(sorted(p.items())) for _, _, p, _ in on_ray}) == len(on_ray) == 8


def test_a_killed_stage_on_ray_leaves_no_task(ray_local, smoke_plain, tmp_path):
    _, env, _ = smoke_plain
    repo = fresh_copy(tmp_path / "repo", env)
    sh(["snnkd", "pipeline", "setup"], repo, env)
    sh(["snnkd", "pipeline", "data", "digits"], repo, env)
    env = {**_with_ray_auth(env), "SNNKD_RAY_ADDRESS": ray_local.get_runtime_context().gcs_address}
    proc = subprocess.Popen(
        ["snnkd", "pipeline", "method", "smoke", "digits", "scratch"], cwd=repo, env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(_seed_tasks(repo)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert len(_seed_tasks(repo)) == 2
    os.kill(proc.pid, 9)
    proc.wait()
    end = time.monotonic() + 20
    while _seed_tasks(repo) and time.monotonic() < end:
        time.sleep(0.3)
    assert _seed_tasks(repo) == []


def _seed_tasks(repo: Path) -> list[int]:
    """The Ray tasks training seeds of ``repo`` (a task changes into its submitter's directory), not
    those of any other Ray cluster on this machine."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if "ray::_in_place" in " ".join(p.info["cmdline"] or []):
            try:
                if Path(p.cwd()).is_relative_to(repo):
                    out.append(p.pid)
            except psutil.Error:  # ended meanwhile
                continue
    return out


def _initial_environment() -> dict[str, str]:
    """The variables this process started with (``/proc/self/environ``): what torch, MKL, oneDNN
    and OpenBLAS read at their first use, whatever ``os.environ`` says later."""
    items = Path("/proc/self/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in items if b"=" in item)


def test_a_ray_job_starts_with_its_submitters_kernel_pin(ray_local, monkeypatch):
    """A seed or trial run as a Ray task computes under its stage's ISA (a suite's ``cpu_isa``):
    the worker process starts with the submitter's pin, not the raylet's."""
    from snnkd.pipeline import tasks
    from snnkd.trainer.threads import CPU_ISAS

    if not Path("/proc/self/environ").exists():
        pytest.skip("no /proc: the initial environment cannot be read")
    monkeypatch.setenv("SNNKD_RAY_ADDRESS", ray_local.get_runtime_context().gcs_address)
    for name, value in CPU_ISAS["portable"].items():
        monkeypatch.setenv(name, value)
    [outcome] = tasks.run(_initial_environment, [()], 1)
    assert {name: outcome.value.get(name) for name in CPU_ISAS["portable"]} == CPU_ISAS["portable"]
