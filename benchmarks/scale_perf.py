"""`snnkd scale` against plain `dvc repro`, side by side in one run, and scaling by simulation.

``python benchmarks/scale_perf.py run [--suite smoke|default|...] [--cpus 2]``: two fresh copies of
the repository on the suite; a plain ``dvc repro`` in one, then ``snnkd scale --cpus N`` in the
other (one after the other, never at once). Prints both wall times, their ratio (the executor's
overhead on the smoke suite; target <= 1.2) and each one's core utilisation: the sum of every
run's ``train_seconds`` and every tuning trial's duration (its MLflow store, as
``pipeline_perf.py share`` counts them) over wall x cores. The default suite takes about
110 minutes per side on 2 cores.

``python benchmarks/scale_perf.py simulate [--mlflow URI] [--cpus 2 4 16 64]``: the default
suite's DAG (this checkout's ``dvc.yaml`` and ``params.yaml``) expanded to tasks (a network, one
task per seed of a method stage, one per tuning trial in batches of ``jobs``), each task's
duration taken from an MLflow store of a finished run (``--mlflow``) or, without one, the
per-role means of ``results/perf_pipeline.json`` (say which beside the figures). Greedy list
scheduling in dependency order (what Ray does with ready tasks) gives the wall time on each CPU
count; the critical path (longest chain of task durations) bounds it from below.

Results are merged into ``results/perf_pipeline.json`` under ``scale``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
OUT = ROOT / "results" / "perf_pipeline.json"


def _trained_seconds(repo: Path) -> float:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipeline_perf import share

    return float(share(repo, 1.0)["default_repro"]["train_seconds"])


def run(suite: str, cpus: int) -> dict:
    from smoke_repo import fresh_copy, sh, smoke_env

    out: dict = {"suite": suite, "cpus": cpus}
    with tempfile.TemporaryDirectory(prefix="snnkd-scale-perf-") as tmp:
        for side, cmd in (
            ("dvc_repro", ["dvc", "repro"]),
            ("snnkd_scale", ["snnkd", "scale", "--cpus", str(cpus)]),
        ):
            env = smoke_env(Path(tmp) / side)
            repo = fresh_copy(Path(tmp) / side / "repo", env)
            if suite != "smoke":
                sh(["snnkd", "suite", "use", suite], repo, env)
            t0 = time.monotonic()
            subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
            wall = time.monotonic() - t0
            trained = _trained_seconds(repo)
            out[side] = {"wall_s": wall, "train_seconds": trained, "utilisation": trained / (wall * cpus)}
            print(side, out[side], file=sys.stderr)
    out["overhead"] = out["snnkd_scale"]["wall_s"] / out["dvc_repro"]["wall_s"]
    return out


def tasks_of_default(mlflow: str | None) -> tuple[dict[str, float], dict[str, set[str]], str]:
    """Tasks (name -> seconds) and their dependencies (name -> names) of this checkout's suite."""
    from snnkd.scale.dag import read
    from snnkd.suites import load

    suite = load(ROOT / "params.yaml", "default")
    stages, _ = read(ROOT)
    means, source = _durations(mlflow)
    seconds: dict[str, float] = {}
    needs: dict[str, set[str]] = {}
    ends: dict[str, set[str]] = {}  # stage -> the tasks that finish it
    for stage in stages:
        before = set().union(*(ends[n] for n in stage.needs)) if stage.needs else set()
        kind = stage.cmd.split()[2] if stage.cmd.startswith("snnkd pipeline") else "other"
        if kind == "method":
            names = [f"{stage.name}#seed{s}" for s in suite.seeds]
            for name in names:
                seconds[name], needs[name] = means.get((stage.name, "method"), means["method"]), before
        elif kind == "tune" and suite.tune.trials > 0 and "scratch" not in stage.name:
            names, prev = [], before
            for start in range(0, suite.tune.trials, suite.jobs):  # a batch waits for the previous one
                batch = [
                    f"{stage.name}#trial{t}" for t in range(start, min(start + suite.jobs, suite.tune.trials))
                ]
                for name in batch:
                    seconds[name], needs[name] = means["trial"], prev
                names, prev = batch, set(batch)
        elif kind == "network":
            names = [stage.name]
            seconds[stage.name], needs[stage.name] = (
                means.get((stage.name, "teacher"), means["teacher"]),
                before,
            )
        else:
            names = [stage.name]
            seconds[stage.name], needs[stage.name] = 0.0, before
        ends[stage.name] = set(names)
    return seconds, needs, source


def _durations(mlflow: str | None) -> tuple[dict, str]:
    data = json.loads(OUT.read_text())["default_repro"]["train_seconds_by_role"]
    if mlflow is None:  # per-role means over the default suite's runs (counts from its plan)
        from snnkd.suites import load

        suite = load(ROOT / "params.yaml", "default")
        n_methods = len(suite.datasets) * len(suite.methods) * len(suite.seeds)
        n_nets = len(suite.datasets) * len(suite.networks)
        n_trials = len(suite.datasets) * (len(suite.methods) - 1) * suite.tune.trials
        means = {
            "method": data["method"] / n_methods,
            "teacher": data["teacher"] / n_nets,
            "trial": data["trial"] / max(1, n_trials),
        }
        return means, "per-role means of results/perf_pipeline.json (no per-task record)"
    from mlflow import MlflowClient

    client = MlflowClient(mlflow)
    per: dict = {}
    for exp in client.search_experiments():
        for r in client.search_runs([exp.experiment_id], max_results=50_000):
            role, stage = r.data.tags.get("snnkd.role"), r.data.tags.get("snnkd.stage")
            if stage and "train_seconds" in r.data.metrics:
                per.setdefault((stage, "method" if role == "method" else "teacher"), []).append(
                    r.data.metrics["train_seconds"]
                )
    means = {k: sum(v) / len(v) for k, v in per.items()}
    means.update(method=data["method"], teacher=data["teacher"], trial=data["trial"])
    return means, f"MLflow store {mlflow}"


def schedule(seconds: dict[str, float], needs: dict[str, set[str]], cpus: int) -> float:
    """Greedy list scheduling in dependency order on ``cpus`` one-thread cores: the makespan."""
    finish: dict[str, float] = {}
    cores = [0.0] * cpus
    for name in seconds:  # insertion order is a dependency order
        ready = max((finish[n] for n in needs[name]), default=0.0)
        free = heapq.heappop(cores)
        start = max(free, ready)
        finish[name] = start + seconds[name]
        heapq.heappush(cores, finish[name] if seconds[name] > 0 else free)
    return max(finish.values())


def critical_path(seconds: dict[str, float], needs: dict[str, set[str]]) -> float:
    longest: dict[str, float] = {}
    for name in seconds:
        longest[name] = seconds[name] + max((longest[n] for n in needs[name]), default=0.0)
    return max(longest.values())


def simulate(mlflow: str | None, counts: list[int]) -> dict:
    seconds, needs, source = tasks_of_default(mlflow)
    work = sum(seconds.values())
    out = {"durations": source, "tasks": len(seconds), "core_seconds": work}
    out["critical_path_s"] = critical_path(seconds, needs)
    for p in counts:
        wall = schedule(seconds, needs, p)
        out[f"cpus_{p}"] = {"wall_s": wall, "utilisation": work / (wall * p)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--suite", default="smoke")
    r.add_argument("--cpus", type=int, default=2)
    s = sub.add_parser("simulate")
    s.add_argument("--mlflow")
    s.add_argument("--cpus", type=int, nargs="+", default=[2, 4, 16, 64])
    args = parser.parse_args()
    result = run(args.suite, args.cpus) if args.what == "run" else simulate(args.mlflow, args.cpus)
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data.setdefault("scale", {})[args.what if args.what == "simulate" else f"run_{args.suite}"] = result
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
