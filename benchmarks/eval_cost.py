"""What evaluation costs per epoch: batch-norm re-estimation and validation, beside the training epoch.

Every epoch of :func:`snnkd.trainer.loop.fit` trains, re-estimates the batch-norm statistics over (at
most 2,048 of) the training samples (:mod:`snnkd.evaluation.batchnorm`) and measures validation
accuracy. Contenders, on the default suite's ``scratch`` student of each dataset (``params.yaml``:
its budget and batch size), side by side in one process and alternating over repeats:

- ``train``: one :func:`snnkd.trainer.loop.train_epoch` (the fused LIF, the CPU default);
- ``bn-before`` / ``val-before``: re-estimation and validation as they ran before this benchmark's
  change: under ``torch.no_grad``, with ATen's ``max_pool`` (``spikingjelly.activation_based.layer``'s
  pools put back for the call) and the fused LIF over the whole batch in one pass;
- ``bn`` / ``val``: as :func:`snnkd.trainer.loop.fit` runs them now (``torch.inference_mode``, the 2x pools'
  fast path of :mod:`snnkd.models.pooling`, the fused LIF over cache-sized slices of the batch,
  :func:`snnkd.models.fused_lif.forward_inference`); checked to give the same statistics and accuracy;
- ``bn-<n>``: re-estimation from a fixed subset of ``n`` samples (``train.bn_samples``, opt-in: it
  changes the statistics);
- ``epoch`` / ``epoch-before`` / ``epoch-sj``: a whole epoch (train, re-estimate, validate) now,
  before, and now with SpikingJelly's neuron (``neuron.backend: spikingjelly``).

Prints milliseconds per contender (median over repeats) and the ratios.

    python benchmarks/eval_cost.py [--datasets digits mnist-5k] [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from snnkd.trainer.threads import pin_isa_environment

ISA = pin_isa_environment()  # before torch starts, as the snnkd command does

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from spikingjelly.activation_based import layer  # noqa: E402

from snnkd.evaluation import batchnorm, metrics  # noqa: E402
from snnkd.models import pooling  # noqa: E402

SUBSETS = (1024, 512)


@contextmanager
def as_before(model: nn.Module) -> Iterator[None]:
    """The evaluation path before this change: SpikingJelly's own max-pools (ATen's ``max_pool``) in place
    of snnkd's, and the fused LIF over the whole batch at once (one slice)."""
    from snnkd.models import fused_lif

    slice_size, fused_lif.INFERENCE_SLICE = fused_lif.INFERENCE_SLICE, 2**62
    swapped = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, pooling.MaxPool2d | pooling.MaxPool1d):
                base = layer.MaxPool2d if isinstance(child, pooling.MaxPool2d) else layer.MaxPool1d
                setattr(parent, name, base(2, step_mode=child.step_mode))
                swapped.append((parent, name, child))
    try:
        yield
    finally:
        fused_lif.INFERENCE_SLICE = slice_size
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _run(dataset: str, backend: str):
    from snnkd.core.config import validate
    from snnkd.pipeline import suites
    from snnkd.trainer.run import prepare

    data = suites.load("params.yaml", "default").method_config(dataset, "scratch", 0, tuned=False)
    data.setdefault("neuron", {})["backend"] = backend
    data["cpu_isa"] = ISA
    return prepare(validate(data))


def contenders(dataset: str) -> dict[str, Callable[[], None]]:
    from snnkd.evaluation.evaluate import _eval_encoder, _recalibrate_bn
    from snnkd.methods.trace import Tracer
    from snnkd.trainer.loop import _optimizer, train_epoch

    runs = {b: _run(dataset, b) for b in ("fused", "spikingjelly")}
    state = {}
    for backend, run in runs.items():
        opt, _ = _optimizer(run)
        state[backend] = (opt, Tracer(run.model, run.student_needs), [0])
    run = runs["fused"]
    bs = run.cfg.train.eval_batch_size

    def train(backend: str = "fused") -> None:
        opt, tracer, epoch = state[backend]
        epoch[0] += 1
        train_epoch(runs[backend], opt, epoch[0], tracer, None, None, False)

    def bn_before() -> None:
        with as_before(run.model), torch.no_grad():
            batchnorm.recalibrate.__wrapped__(*_bn_args(run))

    def val_before() -> float:
        with as_before(run.model), torch.no_grad():
            return metrics.accuracy.__wrapped__(run.model, run.data.val, _eval_encoder(run), bs, run.device)

    def val(r=run) -> float:
        return metrics.accuracy(r.model, r.data.val, _eval_encoder(r), bs, r.device)

    def epoch(backend: str) -> None:
        train(backend)
        _recalibrate_bn(runs[backend])
        val(runs[backend])

    def epoch_before() -> None:
        train()
        bn_before()
        val_before()

    out: dict[str, Callable[[], object]] = {
        "train": train,
        "bn-before": bn_before,
        "bn": lambda: _recalibrate_bn(run),
        "val-before": val_before,
        "val": val,
    }
    out |= {f"bn-{n}": (lambda n=n: batchnorm.recalibrate(*_bn_args(run), max_samples=n)) for n in SUBSETS}
    out |= {
        "epoch-before": epoch_before,
        "epoch": lambda: epoch("fused"),
        "epoch-sj": lambda: epoch("spikingjelly"),
    }
    train()
    check_same(run, bn_before, val_before, lambda: _recalibrate_bn(run), val)
    return out


def _bn_args(run) -> tuple:
    """``recalibrate``'s arguments as :func:`snnkd.evaluation.evaluate._recalibrate_bn` passes them."""
    gen = torch.Generator().manual_seed(run.cfg.seed)
    encode = lambda x: run.encode(run.data.batch(x, False), gen)  # noqa: E731
    return run.model, run.data.train.x, encode, run.cfg.train.eval_batch_size, run.device


def check_same(run, bn_before, val_before, bn, val) -> None:
    """The new re-estimation and validation give exactly the old statistics and accuracy."""
    bn_before()
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    acc_before = val_before()
    bn()
    after = run.model.state_dict()
    same = all(torch.equal(before[k], after[k]) for k in before) and val() == acc_before
    if not same:
        raise SystemExit("eval_cost: the new re-estimation or validation differs from the old one")


def measure(dataset: str, repeats: int) -> dict[str, list[float]]:
    steps = contenders(dataset)
    times: dict[str, list[float]] = {n: [] for n in steps}
    names = list(steps)
    for r in range(repeats):
        for n in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            steps[n]()
            times[n].append(1e3 * (time.perf_counter() - t0))
    return times


def report(dataset: str, times: dict[str, list[float]]) -> dict[str, float]:
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"\n{dataset} (ms, median of {len(times['train'])}; min-max)")
    for n, v in times.items():
        print(f"  {n:13s} {med[n]:9.1f}  ({min(v):.0f}-{max(v):.0f})")
    ratios = {
        "(bn + val) / train, before": (med["bn-before"] + med["val-before"]) / med["train"],
        "(bn + val) / train, now": (med["bn"] + med["val"]) / med["train"],
        "bn / bn-before": med["bn"] / med["bn-before"],
        "val / val-before": med["val"] / med["val-before"],
        **{f"bn-{n} / bn": med[f"bn-{n}"] / med["bn"] for n in SUBSETS},
        "epoch / epoch-before": med["epoch"] / med["epoch-before"],
        "epoch / epoch-sj": med["epoch"] / med["epoch-sj"],
    }
    for k, v in ratios.items():
        print(f"  {k}: {v:.3f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist-5k"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.manual_seed(0)
    figures = {}
    for dataset in args.datasets:
        times = measure(dataset, args.repeats)
        print(f"torch threads: {torch.get_num_threads()}, ISA {torch.backends.cpu.get_cpu_capability()}")
        figures[dataset] = {"ms": times, "ratios": report(dataset, times)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"isa": torch.backends.cpu.get_cpu_capability(), **figures}, f, indent=2)


if __name__ == "__main__":
    main()
