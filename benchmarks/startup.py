"""Start-up cost of a training process with and without :mod:`snnkd.trainer.no_dynamo` (issue 26).

Runs ``snnkd train --dataset digits --epochs 1 --no-track --quiet`` (a 1-epoch digits
student) in fresh interpreters under ``python -X importtime``, alternating two variants
side by side, ``--repeats`` times each:

- ``with``: the product as it is (:func:`snnkd.trainer.no_dynamo.install` keeps the optimizer
  from importing ``torch._dynamo``);
- ``without``: ``install`` replaced by a no-op before the run, so torch's own wrappers run and
  creating the optimizer imports Dynamo, as the code without the module does.

Prints, per variant, the median over repeats of the process's wall time, of its CPU
time (user + system, less sensitive to other jobs on the machine), of its total import
time (the sum of ``-X importtime``'s top-level cumulative times) and of ``torch._dynamo``'s
share, the with/without ratios and differences, the largest top-level imports of the ``with``
variant, and one JSON line with everything.

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
CHILD = {
    "with": "import sys\n" + MAIN,
    # the ISA pinned first, as the snnkd command does, then install() a no-op before main runs
    "without": "import sys\nfrom snnkd.trainer.threads import pin_isa_environment\npin_isa_environment()\n"
    "from snnkd.trainer import no_dynamo\nno_dynamo.install = lambda: False\n" + MAIN,
}


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


def run_once(variant: str, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CHILD[variant], *TRAIN, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"startup: the {variant} run failed:\n{proc.stderr[-2000:]}")
    total, dynamo, top = parse_importtime(proc.stderr)
    return {"wall_s": wall, "cpu_s": cpu, "import_s": total, "dynamo_s": dynamo, "top": top}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (default 3)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for variant in runs:  # side by side: with, without, with, without, ...
                runs[variant].append(run_once(variant, Path(tmp) / f"{variant}{i}"))
    med = {
        v: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "import_s", "dynamo_s")}
        for v, rs in runs.items()
    }
    ratio = {k: med["with"][k] / med["without"][k] for k in ("wall_s", "cpu_s", "import_s")}
    saved = {k: med["without"][k] - med["with"][k] for k in ("wall_s", "cpu_s", "import_s")}
    print(f"snnkd {' '.join(TRAIN)}: median of {args.repeats}, variants alternated")
    print(f"{'':8}{'wall s':>10}{'CPU s':>10}{'imports s':>12}{'torch._dynamo s':>17}")
    for v, m in med.items():
        print(f"{v:8}{m['wall_s']:10.2f}{m['cpu_s']:10.2f}{m['import_s']:12.2f}{m['dynamo_s']:17.2f}")
    print(
        f"with/without: wall {ratio['wall_s']:.2f}, CPU {ratio['cpu_s']:.2f}, "
        f"imports {ratio['import_s']:.2f}; saved per process: wall {saved['wall_s']:.2f} s, "
        f"CPU {saved['cpu_s']:.2f} s, imports {saved['import_s']:.2f} s"
    )
    top = Counter()
    for r in runs["with"]:
        top.update(r["top"])
    print(
        "largest top-level imports (with, mean s): "
        + ", ".join(f"{name} {s / args.repeats:.2f}" for name, s in top.most_common(6))
    )
    print(
        json.dumps(
            {
                "repeats": args.repeats,
                "median": med,
                "ratio_with_without": ratio,
                "saved_per_process": saved,
                "runs": {v: [{k: r[k] for k in med[v]} for r in rs] for v, rs in runs.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
