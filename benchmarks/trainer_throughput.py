"""Training throughput of the snnkd trainer against bare loops of the same network.

Contenders, all on the digits student (conv16-pool-conv32-pool-linear, LIF tau = 2, T = 4, batch 64,
Adam; ``--dataset mnist-5k``: conv8-pool-conv16-pool-linear, batch 128) and measured side by side in one
process, alternating over several repeats (the machine is noisy):

- ``snnkd``: one epoch of :func:`snnkd.trainer.loop.train_epoch` (trace, recipe loss,
  seeded batches, state reset; everything a ``scratch`` run does per batch);
- ``spikingjelly``: a bare SpikingJelly 2 multi-step loop over the same model;
- ``snntorch``: the same layers with ``snntorch.Leaky`` and a loop over time
  (needs the ``bench`` extra);
- ``snnkd-sj``: the trainer with ``neuron.backend: spikingjelly`` (SpikingJelly's LIF operator
  instead of the fused LIF of :mod:`snnkd.models.fused_lif`, the default);
- ``ann-floor``: the same layers as an ANN (ReLU for LIF) fed the B*T frames at once: the cost of
  the convolutions alone, which a spiking trainer can reach only with a free neuron.

The kernel ISA is pinned as the ``snnkd`` command pins it (``SNNKD_CPU_ISA``, default avx2);
``SNNKD_CPU_ISA=native`` measures the unpinned machine (a separate process: torch fixes it once).

Prints samples/s per contender (median over repeats), the ratios, and the peak
resident memory of each contender measured in a fresh subprocess.

    python benchmarks/trainer_throughput.py [--repeats 7] [--epochs-per-repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from snnkd.trainer.threads import pin_isa_environment

ISA = pin_isa_environment()  # before torch starts, as the snnkd command does

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

T = 4
DATASET, BATCH = "digits", 64  # --dataset, --batch


def snnkd_contender(backend: str = "fused"):
    from snnkd.core.config import validate
    from snnkd.methods.trace import Tracer
    from snnkd.trainer.loop import train_epoch
    from snnkd.trainer.run import prepare

    cfg = validate(
        {
            "dataset": DATASET,
            "model": "student",
            "T": T,
            "device": "cpu",
            "train": {"batch_size": BATCH},
            "neuron": {"backend": backend},
            "cpu_isa": ISA,
        }
    )
    run = prepare(cfg)
    opt = torch.optim.Adam(run.model.parameters(), lr=1e-3)
    tracer = Tracer(run.model, run.student_needs)
    epoch = [0]

    def one_epoch() -> int:
        epoch[0] += 1
        train_epoch(run, opt, epoch[0], tracer, None, None, show=False)
        return len(run.data.train)

    return one_epoch, run


def spikingjelly_contender():
    from spikingjelly.activation_based import functional

    _, run = snnkd_contender("spikingjelly")  # the same architecture, SpikingJelly's LIFNode
    model, split = run.model, run.data.train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def one_epoch() -> int:
        model.train()
        perm = torch.randperm(len(split))
        for i in range(0, len(split), BATCH):
            idx = perm[i : i + BATCH]
            x, y = split.x[idx], split.y[idx]
            out = model(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            functional.reset_net(model)
        return len(split)

    return one_epoch, run


def ann_floor_contender():
    from snnkd.core.config import validate
    from snnkd.trainer.run import prepare

    run = prepare(
        validate({"dataset": DATASET, "model": "student", "ann": True, "device": "cpu", "cpu_isa": ISA})
    )
    model, split = run.model, run.data.train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def one_epoch() -> int:
        model.train()
        perm = torch.randperm(len(split))
        for i in range(0, len(split), BATCH):
            idx = perm[i : i + BATCH]
            x, y = split.x[idx], split.y[idx]
            frames = x.repeat(T, *([1] * (x.dim() - 1)))  # B*T frames, as T steps would present them
            out = model(frames.unsqueeze(0)).mean(0).unflatten(0, (T, len(idx))).mean(0)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return len(split)

    return one_epoch, run


class SnnTorchStudent(nn.Module):
    """The student (conv-pool-conv-pool-linear) written with snnTorch: a Python loop over time."""

    def __init__(self, c1: int, c2: int, side: int) -> None:
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)
        self.c2, self.b2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)
        self.l1 = snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
        self.l2 = snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
        self.fc = nn.Linear(c2 * (side // 4) ** 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m1, m2, outs = self.l1.reset_mem(), self.l2.reset_mem(), []
        for _ in range(T):
            s1, m1 = self.l1(self.b1(self.c1(x)), m1)
            s2, m2 = self.l2(self.b2(self.c2(F.max_pool2d(s1, 2))), m2)
            outs.append(self.fc(torch.flatten(F.max_pool2d(s2, 2), 1)))
        return torch.stack(outs).mean(0)


def snntorch_contender():
    from snnkd.data import load_splits
    from snnkd.models import preset_for

    split = load_splits(DATASET).train
    c1, _, c2, _ = preset_for(DATASET, "student")[1]["channels"]
    model = SnnTorchStudent(c1, c2, split.x.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def one_epoch() -> int:
        model.train()
        perm = torch.randperm(len(split))
        for i in range(0, len(split), BATCH):
            idx = perm[i : i + BATCH]
            loss = F.cross_entropy(model(split.x[idx]), split.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return len(split)

    return one_epoch, None


CONTENDERS = {
    "snnkd": snnkd_contender,
    "snnkd-sj": lambda: snnkd_contender("spikingjelly"),
    "ann-floor": ann_floor_contender,
    "spikingjelly": spikingjelly_contender,
    "snntorch": snntorch_contender,
}


def peak_rss_mb(name: str, epochs: int) -> float:
    """Peak resident memory of a fresh process that trains ``epochs`` with one contender."""
    code = (
        "import resource, sys; sys.path.insert(0, 'benchmarks');"
        "import trainer_throughput as b;"
        f"step, _ = b.CONTENDERS['{name}'](); [step() for _ in range({epochs})];"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits | mnist-5k (their student preset)")
    parser.add_argument("--batch", type=int, help="training batch (default: digits 64, mnist-5k 128)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs-per-repeat", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    args = parser.parse_args()
    global DATASET, BATCH
    DATASET, BATCH = args.dataset, args.batch or (64 if args.dataset == "digits" else 128)
    torch.manual_seed(0)
    names = [n for n in CONTENDERS if n != "snntorch" or _has_snntorch()]
    steps = {n: CONTENDERS[n]()[0] for n in names}
    for step in steps.values():  # warm-up
        step()
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            t0 = time.perf_counter()
            samples = sum(steps[n]() for _ in range(args.epochs_per_repeat))
            rates[n].append(samples / (time.perf_counter() - t0))
    median = {n: statistics.median(v) for n, v in rates.items()}
    isa = torch.backends.cpu.get_cpu_capability()
    print(
        f"{DATASET} student, torch threads: {torch.get_num_threads()}, ISA {isa}, T={T}, batch={BATCH}, "
        f"repeats={args.repeats}"
    )
    for n in names:
        lo, hi = min(rates[n]), max(rates[n])
        print(f"{n:13s} {median[n]:8.0f} samples/s (min {lo:.0f}, max {hi:.0f})")
    ratios = {
        "snnkd / spikingjelly": median["snnkd"] / median["spikingjelly"],
        "snnkd / ann-floor": median["snnkd"] / median["ann-floor"],
        "snnkd / snnkd-sj": median["snnkd"] / median["snnkd-sj"],
    }
    if "snntorch" in median:
        ratios["snntorch / spikingjelly"] = median["snntorch"] / median["spikingjelly"]
        ratios["snnkd / faster peer"] = median["snnkd"] / max(median["spikingjelly"], median["snntorch"])
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    memory = {n: peak_rss_mb(n, 2) for n in names} if not args.no_memory else {}
    for n, mb in memory.items():
        print(f"peak RSS {n}: {mb:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "isa": isa,
                    "samples_per_s": median,
                    "runs": rates,
                    "ratios": ratios,
                    "peak_rss_mib": memory,
                },
                f,
                indent=2,
            )


def _has_snntorch() -> bool:
    try:
        import snntorch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
