"""Pipeline cost (issue 11), measured side by side in one run on this machine.

``python benchmarks/pipeline_perf.py slowdown``: one mnist1d student epoch alone and
beside a competing CPU-bound process (a second training job), under the product's
thread policy (1 thread per run) and under torch's default (one per core); prints the
slowdown ratios.

``python benchmarks/pipeline_perf.py smoke``: the smoke suite's `dvc repro` from a fresh
copy of the repository, then a no-op `dvc repro`, wall seconds.

``python benchmarks/pipeline_perf.py share --repo DIR --wall SECONDS``: training's share of
a finished `dvc repro` (sum of every run's ``train_seconds`` in the repository's MLflow
store, and of every tuning trial's duration, over the wall time), per stage kind; with two
runs at a time the sum can reach twice the wall, so the share per core is printed too.

Results go to ``results/perf_pipeline.json`` (merged by key) and are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "perf_pipeline.json"

EPOCH = r"""
import os, sys, time, torch
from snnkd.core.config import validate
from snnkd.trainer.run import prepare
from snnkd.trainer.loop import train_epoch
from snnkd.methods.trace import Tracer
threads = int(sys.argv[1])
cfg = validate({"dataset": "mnist1d", "model": "student", "device": "cpu", "threads": max(threads, 1),
                "train": {"batch_size": 128, "lr": 0.005}})
run = prepare(cfg)
if threads == 0:  # torch's default: one thread per core, as before the policy
    torch.set_num_threads(os.cpu_count())
opt = torch.optim.Adam(run.model.parameters(), lr=0.005)
tracer = Tracer(run.model, run.student_needs)
train_epoch(run, opt, 1, tracer, None, None, False)  # warm-up
times = []
for epoch in range(2, 5):
    t0 = time.perf_counter()
    train_epoch(run, opt, epoch, tracer, None, None, False)
    times.append(time.perf_counter() - t0)
print(sorted(times)[len(times) // 2])
"""


def _epoch_seconds(threads: int, competitor: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    other = None
    if competitor:  # a second training job of the same kind, torch's default threads
        loop = EPOCH.replace("for epoch in range(2, 5)", "for epoch in range(2, 10_000)")
        other = subprocess.Popen([sys.executable, "-c", loop, "0"], env=env, stdout=subprocess.DEVNULL)
        time.sleep(8)  # past its imports and warm-up
    try:
        out = subprocess.run(
            [sys.executable, "-c", EPOCH, str(threads)], env=env, capture_output=True, text=True, check=True
        ).stdout
    finally:
        if other is not None:
            other.kill()
            other.wait()
    return float(out.strip().splitlines()[-1])


def slowdown() -> dict:
    result = {}
    for name, threads in (("policy_1_thread", 1), ("torch_default_threads", 0)):
        alone = _epoch_seconds(threads, False)
        busy = _epoch_seconds(threads, True)
        result[name] = {"alone_s": alone, "with_competitor_s": busy, "slowdown": busy / alone}
    return {"epoch_slowdown": result}


def _sh(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def smoke() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    with tempfile.TemporaryDirectory(prefix="snnkd-perf-") as tmp:
        repo = Path(tmp) / "repo"
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        for name in filter(None, files.split("\0")):
            if (ROOT / name).is_file() and not name.startswith("results/") and name != "dvc.lock":
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, repo / name)
        env["SNNKD_CACHE_DIR"] = str(Path(tmp) / "cache")
        for cmd in (["git", "init", "-q"], ["snnkd", "suite", "use", "smoke"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "copy"]):  # fmt: skip
            _sh(cmd, repo, env)
        fresh = _sh(["dvc", "repro"], repo, env)
        noop = _sh(["dvc", "repro"], repo, env)
    return {"smoke": {"fresh_repro_s": fresh, "noop_repro_s": noop}}


def share(repo: Path, wall: float) -> dict:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    total: dict[str, float] = {}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=50_000):
            seconds = run.data.metrics.get("train_seconds")
            role = run.data.tags.get("snnkd.role", "other")
            if run.data.tags.get("snnkd.kind") == "trial" and run.info.end_time:
                # a tuning trial logs no train_seconds: its run spans its training (train split,
                # validation each epoch; pruned trials stop early), so its duration counts
                role, seconds = "trial", (run.info.end_time - run.info.start_time) / 1000
            if seconds is not None and run.info.status == "FINISHED":
                total[role] = total.get(role, 0.0) + seconds
    trained = sum(total.values())
    return {
        "default_repro": {
            "wall_s": wall,
            "train_seconds_by_role": total,
            "train_seconds": trained,
            "training_share": trained / wall,
            "training_share_per_core": trained / wall / (os.cpu_count() or 1),
        }
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["slowdown", "smoke", "share"])
    p.add_argument("--repo", type=Path, default=ROOT)
    p.add_argument("--wall", type=float, help="share: wall seconds of the measured `dvc repro`")
    args = p.parse_args()
    if args.what == "slowdown":
        result = slowdown()
    elif args.what == "smoke":
        result = smoke()
    else:
        if args.wall is None:
            p.error("share needs --wall SECONDS")
        result = share(args.repo, args.wall)
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved.update(result)
    OUT.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
