"""`snnkd scale` against plain `dvc repro`, side by side in one run, and scaling by simulation.

``python benchmarks/scale_perf.py run [--suite smoke|default|...] [--cpus 2] [--datasets D ...]``:
two fresh copies of the repository on the suite; a plain ``dvc repro`` in one, then
``snnkd scale --cpus N`` in the other (one after the other, never at once). Prints both wall
times, their ratio (the executor's overhead on the smoke suite; target <= 1.2), each one's core
utilisation: the sum of every run's ``train_seconds`` and every tuning trial's duration (its
MLflow store, as ``pipeline_perf.py share`` counts them) over wall x cores, and whether the two
sides published the same bytes. ``--datasets``: only the suite's stages of those datasets (its
networks, tuning and method stages, and what they need; not the leaderboard, which needs every
dataset), the same targets on both sides. The default suite takes about 100 minutes per side
on 2 cores.

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
import contextlib
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


def _of_datasets(stage: str, suite: str, datasets: list[str]) -> bool:
    """Whether ``stage`` is one of the suite's stages of ``datasets``: its network, tune and method
    stages, named ``<kind>@<suite>-<dataset>-<name>``."""
    return any(stage.split("@")[-1].startswith(f"{suite}-{d}-") for d in datasets)


def _targets(repo: Path, env: dict, suite: str, datasets: list[str]) -> list[str]:
    """The suite's stages of ``datasets`` (network, tune, method), as DVC names them."""
    from smoke_repo import sh

    names = sh(["dvc", "stage", "list", "--name-only"], repo, env).split()
    return [n for n in names if _of_datasets(n, suite, datasets)]


def run(suite: str, cpus: int, datasets: list[str] | None = None, workdir: Path | None = None) -> dict:
    from smoke_repo import fresh_copy, published, sh, smoke_env

    out: dict = {"suite": suite, "cpus": cpus, "datasets": datasets or "all"}
    files: dict[str, dict[str, bytes]] = {}
    keep = contextlib.nullcontext(str(workdir)) if workdir else None
    with keep or tempfile.TemporaryDirectory(prefix="snnkd-scale-perf-") as tmp:
        for side, cmd in (
            ("dvc_repro", ["dvc", "repro"]),
            ("snnkd_scale", ["snnkd", "scale", "--cpus", str(cpus)]),
        ):
            env = smoke_env(Path(tmp) / side)
            repo = fresh_copy(Path(tmp) / side / "repo", env)
            if suite != "smoke":
                sh(["snnkd", "suite", "use", suite], repo, env)
            targets = _targets(repo, env, suite, datasets) if datasets else []
            t0 = time.monotonic()
            subprocess.run([*cmd, *targets], cwd=repo, env=env, check=True, capture_output=True)
            wall = time.monotonic() - t0
            trained = _trained_seconds(repo)
            files[side] = published(repo)
            out[side] = {
                "wall_s": wall,
                "train_seconds": trained,
                "utilisation": trained / (wall * cpus),
                "stages": len(targets) or "all",
                "published_files": len(files[side]),
            }
            print(side, out[side], file=sys.stderr)
    out["overhead"] = out["snnkd_scale"]["wall_s"] / out["dvc_repro"]["wall_s"]
    out["same_bytes"] = files["dvc_repro"] == files["snnkd_scale"]
    return out


def tasks_of_suite(
    mlflow: str | None, suite_name: str = "default", datasets: list[str] | None = None
) -> tuple[dict[str, float], dict[str, set[str]], str]:
    """Tasks (name -> seconds) and their dependencies (name -> names) of this checkout's suite
    (its stages of ``datasets`` only, when given), in DVC's stage order."""
    from snnkd.pipeline.suites import load
    from snnkd.scale.dag import read

    suite = load(ROOT / "params.yaml", suite_name)
    stages, _ = read(ROOT)
    if datasets:
        shared = {"setup", *(f"data@{d}" for d in datasets)}
        stages = [s for s in stages if s.name in shared or _of_datasets(s.name, suite_name, datasets)]
    per, source = _durations(mlflow, suite)
    seconds: dict[str, float] = {}
    needs: dict[str, set[str]] = {}
    ends: dict[str, set[str]] = {}  # stage -> the tasks that finish it
    for stage in stages:
        before = set().union(*(ends.get(n, set()) for n in stage.needs))
        words = stage.cmd.split()
        kind = words[2] if stage.cmd.startswith("snnkd pipeline") else "other"
        if kind == "method":
            names = [f"{stage.name}#seed{s}" for s in suite.seeds]
            for seed, name in zip(suite.seeds, names, strict=True):
                seconds[name], needs[name] = per.get((stage.name, seed), per["method"]), before
        elif (
            kind == "tune"
            and suite.tune.trials > 0
            and words[5] != "scratch"
            and (
                mlflow is None or (stage.name, "trials") in per  # a store without its trials: nothing tuned
            )
        ):
            trials = per.get((stage.name, "trials")) or [per["trial"]] * suite.tune.trials
            names, prev = [], before
            for start in range(0, len(trials), suite.jobs):  # a batch waits for the previous one
                batch = [f"{stage.name}#trial{t}" for t in range(start, min(start + suite.jobs, len(trials)))]
                for t, name in enumerate(batch, start):
                    seconds[name], needs[name] = trials[t], prev
                names, prev = batch, set(batch)
        elif kind == "network":
            names = [stage.name]
            seconds[stage.name], needs[stage.name] = per.get((stage.name, None), per["teacher"]), before
        else:
            names = [stage.name]
            seconds[stage.name], needs[stage.name] = 0.0, before
        ends[stage.name] = set(names)
    return seconds, needs, source


def _durations(mlflow: str | None, suite) -> tuple[dict, str]:
    """Per-task seconds of a finished run's MLflow store: ``(stage, seed)`` for a method seed,
    ``(stage, None)`` for a network, ``(tune stage, "trials")`` for a study's trial durations in
    trial order; and per-role means (``method``, ``teacher``, ``trial``) for tasks it lacks."""
    data = json.loads(OUT.read_text())["default_repro"]["train_seconds_by_role"]
    n_methods = len(suite.datasets) * len(suite.methods) * len(suite.seeds)
    n_nets = len(suite.datasets) * len(suite.networks)
    n_trials = len(suite.datasets) * (len(suite.methods) - 1) * suite.tune.trials
    means = {
        "method": data["method"] / n_methods,
        "teacher": data["teacher"] / n_nets,
        "trial": data["trial"] / max(1, n_trials),
    }
    if mlflow is None:
        return means, "per-role means of results/perf_pipeline.json (no per-task record)"
    from mlflow import MlflowClient

    client = MlflowClient(mlflow)
    per: dict = dict(means)
    trials: dict[str, dict[int, float]] = {}
    for exp in client.search_experiments():
        for r in client.search_runs([exp.experiment_id], max_results=50_000):
            tags = r.data.tags
            if tags.get("snnkd.kind") == "trial" and r.info.end_time:
                trials.setdefault(tags["snnkd.study"], {})[int(tags["snnkd.trial"])] = (
                    r.info.end_time - r.info.start_time
                ) / 1000
            elif (stage := tags.get("snnkd.dvc_stage")) and "train_seconds" in r.data.metrics:
                key = (
                    (stage, int(tags["snnkd.seed"])) if tags.get("snnkd.role") == "method" else (stage, None)
                )
                per[key] = r.data.metrics["train_seconds"]
    for study, by_number in trials.items():  # pipeline-<dataset>-<method>-<objectives>-...
        for dataset in suite.datasets:
            for method in suite.methods:
                if study.startswith(f"pipeline-{dataset}-{method}-"):
                    per[(f"tune@{suite.suite}-{dataset}-{method}", "trials")] = [
                        by_number[n] for n in sorted(by_number)
                    ]
    return per, f"MLflow store {mlflow} (per task; per-role means where it has none)"


def schedule(seconds: dict[str, float], needs: dict[str, set[str]], cpus: int, order: str = "dvc") -> float:
    """List scheduling on ``cpus`` one-thread cores: whenever a core is free, the ready task that
    comes first starts: first in DVC's stage order (``dvc``, what the driver submits) or with the
    longest chain of work after it (``critical-path``). Returns the makespan."""
    import itertools

    rank = {n: i for i, n in enumerate(seconds)}
    if order == "critical-path":
        tail = bottom_levels(seconds, needs)
        rank = {n: -tail[n] for n in seconds}
    waiting = {n: set(needs[n]) for n in seconds}
    after: dict[str, list[str]] = {n: [] for n in seconds}
    for n, ns in needs.items():
        for d in ns:
            after[d].append(n)
    ready = [(rank[n], n) for n in seconds if not waiting[n]]
    heapq.heapify(ready)
    running: list[tuple[float, int, str]] = []
    tick, now, free, end = itertools.count(), 0.0, cpus, 0.0
    while ready or running:
        while ready and free:
            _, name = heapq.heappop(ready)
            free -= 1
            heapq.heappush(running, (now + seconds[name], next(tick), name))
        now, _, name = heapq.heappop(running)
        free, end = free + 1, max(end, now)
        for n in after[name]:
            waiting[n].discard(name)
            if not waiting[n]:
                heapq.heappush(ready, (rank[n], n))
    return end


def bottom_levels(seconds: dict[str, float], needs: dict[str, set[str]]) -> dict[str, float]:
    """Each task's seconds plus the longest chain of tasks that need it (the driver's
    :func:`snnkd.scale.history.bottom_levels`, with the tasks as stages; ``seconds`` is in
    dependency order)."""
    from snnkd.scale.dag import Stage
    from snnkd.scale.history import bottom_levels as levels

    return levels([Stage(n, "", tuple(needs[n])) for n in seconds], seconds)


def critical_path(seconds: dict[str, float], needs: dict[str, set[str]]) -> float:
    return max(bottom_levels(seconds, needs).values())


def simulate(mlflow: str | None, counts: list[int], suite: str = "default", datasets=None) -> dict:
    seconds, needs, source = tasks_of_suite(mlflow, suite, datasets)
    work = sum(seconds.values())
    out = {"durations": source, "tasks": len(seconds), "core_seconds": work, "datasets": datasets or "all"}
    out["critical_path_s"] = critical_path(seconds, needs)
    for p in counts:
        for order in ("dvc", "critical-path"):
            wall = schedule(seconds, needs, p, order)
            out[f"cpus_{p}_{order}"] = {"wall_s": wall, "utilisation": work / (wall * p)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--suite", default="smoke")
    r.add_argument("--cpus", type=int, default=2)
    r.add_argument("--datasets", nargs="+", help="only the suite's stages of these datasets")
    r.add_argument("--workdir", type=Path, help="keep both copies (and their MLflow stores) here")
    s = sub.add_parser("simulate")
    s.add_argument("--mlflow")
    s.add_argument("--cpus", type=int, nargs="+", default=[2, 4, 16, 64])
    s.add_argument("--suite", default="default")
    s.add_argument("--datasets", nargs="+", help="only the suite's stages of these datasets")
    args = parser.parse_args()
    if args.what == "run":
        result = run(args.suite, args.cpus, args.datasets, args.workdir)
        key = "_".join(["run", args.suite, *(args.datasets or [])])
    else:
        result = simulate(args.mlflow, args.cpus, args.suite, args.datasets)
        key = "_".join(["simulate", *(args.datasets or [])])
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data.setdefault("scale", {})[key] = result
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
