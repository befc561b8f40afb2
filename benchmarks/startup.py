"""Start-up cost of a training process, and ``torch._dynamo``'s share of it.

Runs ``snnkd train --dataset digits --epochs 1 --no-track --quiet`` (a 1-epoch digits
student) in fresh interpreters under ``python -X importtime``, ``--repeats`` times. Creating
torch's optimizers imports ``torch._dynamo`` (``torch._disable_dynamo`` wraps
``Optimizer.add_param_group``), which an eager run never uses: its import time is what skipping
Dynamo could save per process at most. Issue 26 measured that saving (1.5 CPU s per process,
about 0.9 s per forked seed; results/perf.md) and removed the patch that bought it.

Prints the median over repeats of the process's wall time, of its CPU time (user + system,
less sensitive to other jobs on the machine), of its total import time (the sum of
``-X importtime``'s top-level cumulative times) and of ``torch._dynamo``'s share, the largest
top-level imports, and one JSON line with everything.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

TRAIN = ["train", "--dataset", "digits", "--epochs", "1", "--no-track", "--quiet"]
MAIN = "from snnkd.cli.main import main\nsys.exit(main(sys.argv[1:]))"
CHILD = "import sys\n" + MAIN


def parse_importtime(stderr: str) -> tuple[float, float, Counter]:
    """Total import seconds, ``torch._dynamo``'s cumulative seconds, seconds per top-level import."""
    total, dynamo, top = 0.0, 0.0, Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        seconds = int(cumulative) / 1e6
        if depth == 0:  # every import not nested in another one (their sum is the whole import time)
            total += seconds
            top[name.strip()] += seconds
        if name.strip() == "torch._dynamo":
            dynamo = max(dynamo, seconds)
    return total, dynamo, top


def run_once(out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD, *TRAIN, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"startup: the run failed:\n{proc.stderr[-2000:]}")
    total, dynamo, top = parse_importtime(proc.stderr)
    return {"wall_s": wall, "cpu_s": cpu, "import_s": total, "dynamo_s": dynamo, "top": top}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_once(Path(tmp) / f"run{i}") for i in range(args.repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "import_s", "dynamo_s")}
    print(f"snnkd {' '.join(TRAIN)}: median of {args.repeats}")
    print(f"{'wall s':>10}{'CPU s':>10}{'imports s':>12}{'torch._dynamo s':>17}")
    print(f"{med['wall_s']:10.2f}{med['cpu_s']:10.2f}{med['import_s']:12.2f}{med['dynamo_s']:17.2f}")
    top = Counter()
    for r in runs:
        top.update(r["top"])
    print(
        "largest top-level imports (mean s): "
        + ", ".join(f"{name} {s / args.repeats:.2f}" for name, s in top.most_common(6))
    )
    print(
        json.dumps({"repeats": args.repeats, "median": med, "runs": [{k: r[k] for k in med} for r in runs]})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
