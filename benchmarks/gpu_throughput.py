"""Training throughput of a spiking VGG-11 at T = 4 on CIFAR-shaped synthetic data (no download).

Runs the real trainer (:func:`snnkd.trainer.loop.train_epoch`: uint8 batches, CIFAR
normalisation + seeded random crop and flip on the device, direct encoding,
LIF tau = 2, threshold 1, trace, CE loss, Adam) on ``--samples`` random uint8
images ``3x32x32`` registered as a throw-away dataset ``synthetic-cifar``.
One warm-up epoch, then ``--epochs`` timed epochs; prints samples/s, the peak
GPU memory (``torch.cuda.max_memory_allocated``) on CUDA and the peak resident
memory of the process, and a JSON line with everything.

    python benchmarks/gpu_throughput.py                      # CUDA if present: batch 128
    python benchmarks/gpu_throughput.py --amp --channels-last
    python benchmarks/gpu_throughput.py --device cpu         # batch 16, CI-sized
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from snnkd.trainer.threads import pin_isa_environment

pin_isa_environment()  # before torch starts, as the snnkd command does (the runs' default cpu_isa)

import torch  # noqa: E402

NAME = "synthetic-cifar"


def register_synthetic(samples: int, seed: int = 0) -> None:
    """Register ``synthetic-cifar``: random uint8 images, CIFAR transform, a VGG-11 preset."""
    from snnkd.data import DATASETS, DatasetInfo, DatasetSpec, Split, Splits
    from snnkd.data.transforms import image
    from snnkd.models.presets import PRESETS, VGG11

    info = DatasetInfo(NAME, "image", (3, 32, 32), 10, "random uint8 CIFAR-shaped images", embedded=True)

    def load(_: Path) -> Splits:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randint(0, 256, (samples, 3, 32, 32), dtype=torch.uint8, generator=gen)
        y = torch.randint(0, 10, (samples,), generator=gen)
        small = Split(x[:16], y[:16])
        transform, augments = image((0.49, 0.48, 0.45), (0.25, 0.24, 0.26), crop_pad=4)
        return Splits(info, Split(x, y), small, small, transform=transform, augments=augments)

    if NAME not in DATASETS:
        DATASETS.register(NAME, DatasetSpec(info, load, lambda _: "embedded"))
    PRESETS[NAME] = {"vgg11": ("vgg", {"channels": VGG11})}


def measure(
    device: str, batch_size: int, samples: int, epochs: int, T: int, amp: bool, channels_last: bool
) -> dict[str, Any]:
    """Train and time; returns the figures (samples/s over the timed epochs, memory)."""
    from snnkd.core.config import validate
    from snnkd.methods.trace import Tracer
    from snnkd.trainer.loop import train_epoch
    from snnkd.trainer.run import prepare

    register_synthetic(samples)
    cfg = validate(
        {
            "dataset": NAME,
            "model": "vgg11",
            "T": T,
            "device": device,
            "train": {"batch_size": batch_size, "amp": amp, "channels_last": channels_last},
        }
    )
    run = prepare(cfg)
    opt = torch.optim.Adam(run.model.parameters(), lr=1e-3)
    tracer = Tracer(run.model, run.student_needs)
    cuda = run.device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    train_epoch(run, opt, 0, tracer, None, None, False)  # warm-up: kernels, allocator, autotuning
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        stats = train_epoch(run, opt, epoch, tracer, None, None, False)
    sync()
    seconds = time.perf_counter() - t0
    return {
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "model": "spiking VGG-11",
        "params": sum(p.numel() for p in run.model.parameters()),
        "T": T,
        "batch_size": batch_size,
        "samples": samples * epochs,
        "amp_bf16": amp,
        "channels_last": channels_last,
        "seconds": seconds,
        "samples_per_s": samples * epochs / seconds,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_loss": stats["loss"],
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch-size", type=int, help="default 128 on CUDA, 16 on the CPU")
    p.add_argument("--batches", type=int, help="batches per epoch (default 40 on CUDA, 4 on the CPU)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    batch = args.batch_size or (128 if cuda else 16)
    samples = batch * (args.batches or (40 if cuda else 4))
    r = measure(args.device, batch, samples, args.epochs, args.T, args.amp, args.channels_last)
    gpu = f", peak GPU memory {r['peak_gpu_mib']:.0f} MiB" if r["peak_gpu_mib"] is not None else ""
    print(
        f"{r['device']}: {r['model']} T={r['T']} batch {r['batch_size']} "
        f"(amp {r['amp_bf16']}, channels-last {r['channels_last']}): "
        f"{r['samples_per_s']:.1f} samples/s{gpu}, peak RSS {r['peak_rss_mib']:.0f} MiB"
    )
    print(json.dumps(r, sort_keys=True))
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
