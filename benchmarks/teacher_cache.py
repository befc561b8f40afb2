"""Cost of the teacher in ``kd``: epoch time of ``kd`` over epoch time of ``scratch``.

The digits student learns from the digits teacher preset. Three contenders run
side by side in one process, alternating over repeats: ``scratch``, ``kd``
with the teacher-knowledge cache (the default for deterministic inputs) and
``kd`` with a teacher forward pass per batch (the cache switched off). The
one-time cost of filling the cache is reported apart.

    python benchmarks/teacher_cache.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from snnkd.core.config import validate
from snnkd.methods.trace import Tracer
from snnkd.trainer import loop
from snnkd.trainer import teacher as teachers
from snnkd.trainer.run import prepare


def make_teacher(folder: Path) -> Path:
    cfg = validate({"dataset": "digits", "model": "teacher", "device": "cpu", "train": {"epochs": 1}})
    loop.fit(prepare(cfg), folder, show_progress=False)
    return folder / "checkpoint.pt"


def contender(method: str, teacher: Path | None, cached: bool):
    data = {"dataset": "digits", "model": "student", "method": method, "device": "cpu"}
    if teacher is not None:
        data["teacher"] = str(teacher)
    run = prepare(validate(data))
    opt = torch.optim.Adam(run.model.parameters(), lr=1e-3)
    s_tracer = Tracer(run.model, run.student_needs)
    t_tracer = Tracer(run.teacher.model, run.teacher_needs) if run.teacher else None
    cache, build = None, 0.0
    if run.teacher is not None and cached:
        teachers._TEACHER_CACHE.clear()
        for f in teachers.teacher_cache_dir().glob(f"{run.teacher.digest[:16]}-*.pt"):
            f.unlink()
        t0 = time.perf_counter()
        cache = teachers._teacher_knowledge(run, t_tracer)
        build = time.perf_counter() - t0
    epoch = [0]

    def one_epoch() -> None:
        epoch[0] += 1
        loop.train_epoch(run, opt, epoch[0], s_tracer, t_tracer, cache, show=False)

    return one_epoch, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teacher = make_teacher(Path(tmp))
        runs = {
            "scratch": contender("scratch", None, False),
            "kd (cached teacher)": contender("kd", teacher, True),
            "kd (teacher pass per batch)": contender("kd", teacher, False),
        }
        times: dict[str, list[float]] = {n: [] for n in runs}
        for step, _ in runs.values():
            step()  # warm-up
        names = list(runs)
        for r in range(args.repeats):
            for n in names if r % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                runs[n][0]()
                times[n].append(time.perf_counter() - t0)
    med = {n: statistics.median(v) for n, v in times.items()}
    for n in names:
        print(f"{n:28s} {1e3 * med[n]:8.1f} ms/epoch")
    ratios = {
        "kd cached / scratch": med["kd (cached teacher)"] / med["scratch"],
        "kd uncached / scratch": med["kd (teacher pass per batch)"] / med["scratch"],
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    build = runs["kd (cached teacher)"][1]
    print(
        f"one-time cache fill: {1e3 * build:.1f} ms ({build / med['scratch']:.2f} scratch epochs);"
        " later runs (seeds, methods) load it from disk"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"ms_per_epoch": med, "ratios": ratios, "cache_fill_s": build}, indent=2)
        )


if __name__ == "__main__":
    main()
