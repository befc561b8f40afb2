"""What a kernel policy costs: training samples/s under ``avx2`` against ``portable`` (issue 25).

The kernel ISA is fixed once per process (torch, oneDNN, MKL and OpenBLAS read it at their first
use), so the two contenders cannot share a process. They alternate instead: each round starts one
fresh child per policy, in turn, and each child prepares the student of ``--dataset`` (digits:
conv16-pool-conv32-pool-linear, batch 64; mnist-5k: conv8-pool-conv16-pool-linear, batch 128;
LIF tau = 2, T = 4, one thread), trains one warm-up epoch of :func:`snnkd.trainer.loop.train_epoch`
and times ``--epochs`` more, with the optimizer the policy's runs use (Adam; ``portable``: its
fused kernel, :func:`snnkd.trainer.threads.fused_optimizer`). Prints each policy's median
samples/s over the rounds and their ratio; both sides run on the same machine in the same minutes.

    python benchmarks/isa_cost.py [--dataset digits] [--rounds 5] [--epochs 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from snnkd.trainer.threads import ISA_VARIABLES

POLICIES = ("avx2", "portable")
BATCH = {"digits": 64, "mnist-5k": 128}


def child(dataset: str, epochs: int) -> float:
    """Samples/s of ``epochs`` timed training epochs in this process's policy (after one warm-up)."""
    from snnkd.trainer.threads import pin_isa_environment

    isa = pin_isa_environment()
    import torch

    from snnkd.core.config import validate
    from snnkd.methods.trace import Tracer
    from snnkd.trainer.loop import train_epoch
    from snnkd.trainer.run import prepare
    from snnkd.trainer.threads import fused_optimizer

    cfg = validate(
        {
            "dataset": dataset,
            "model": "student",
            "T": 4,
            "device": "cpu",
            "train": {"batch_size": BATCH[dataset]},
            "cpu_isa": isa,
        }
    )
    run = prepare(cfg)
    opt = torch.optim.Adam(run.model.parameters(), lr=1e-3, fused=True if fused_optimizer(isa) else None)
    tracer = Tracer(run.model, run.student_needs)
    train_epoch(run, opt, 1, tracer, None, None, show=False)
    start = time.perf_counter()
    for epoch in range(2, 2 + epochs):
        train_epoch(run, opt, epoch, tracer, None, None, show=False)
    return epochs * len(run.data.train) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=sorted(BATCH))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.dataset, args.epochs)))
        return 0
    rates: dict[str, list[float]] = {p: [] for p in POLICIES}
    for _ in range(args.rounds):
        for policy in POLICIES:
            # the child pins the policy's variables as the snnkd command does
            env = {k: v for k, v in os.environ.items() if k not in ISA_VARIABLES}
            env["SNNKD_CPU_ISA"] = policy
            cmd = [
                sys.executable,
                __file__,
                "--child",
                policy,
                "--dataset",
                args.dataset,
                "--epochs",
                str(args.epochs),
            ]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rates[policy].append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {p: statistics.median(r) for p, r in rates.items()}
    for policy in POLICIES:
        low, high = min(rates[policy]), max(rates[policy])
        print(f"{policy:>9}: {median[policy]:8.0f} samples/s (median of {args.rounds}; {low:.0f}-{high:.0f})")
    ratio = median["portable"] / median["avx2"]
    print(f"portable / avx2: {ratio:.3f}")
    if args.json:
        from snnkd.tracking.provenance import cpu_model

        figures = {"dataset": args.dataset, "cpu": cpu_model(), "samples_per_s": rates, "ratio": ratio}
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1, sort_keys=True)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
