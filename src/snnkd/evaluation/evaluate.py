"""Evaluating a network: one pass over a split returning every metric, batch norm recalibrated first.

Before every evaluation of a run's student (:func:`validation_accuracy` after
each epoch), the batch-norm statistics are recomputed from the training split
(:func:`_recalibrate_bn`, "precise BN", :mod:`snnkd.evaluation.batchnorm`). Rate encoding
draws from a generator seeded afresh from the run's seed at each evaluation
(:func:`_eval_encoder`), so a network evaluates to the same figures every time.
:func:`final_metrics` is a finished run's record: test metrics in one pass
(:func:`snnkd.evaluation.metrics.evaluate`: accuracy, spikes, SynOps, MACs, energy, the
NeuroBench block), validation accuracy, size and hardware figures
(:func:`snnkd.quant.quant_metrics`), with what produced them;
:func:`write_metrics` publishes it and :func:`summary` tells it in three lines.
:func:`evaluate_checkpoint` measures a saved checkpoint (``snnkd eval``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from snnkd.core.config import validate
from snnkd.trainer import checkpoint

if TYPE_CHECKING:
    from snnkd.trainer.early_stopping import EarlyStopping
    from snnkd.trainer.run import Run


def _recalibrate_bn(run: Run) -> None:
    """Batch-norm statistics from the training split before evaluating (:mod:`snnkd.evaluation.batchnorm`)."""
    from snnkd.evaluation.batchnorm import recalibrate

    gen = torch.Generator().manual_seed(run.cfg.seed)
    recalibrate(
        run.model,
        run.data.train.x,
        lambda x: run.encode(run.data.batch(x, False), gen),
        run.cfg.train.eval_batch_size,
        run.device,
        max_samples=run.cfg.train.bn_samples,
    )


def _eval_encoder(run: Run) -> Callable[[torch.Tensor], torch.Tensor]:
    """Encoding for evaluation: rate encoding draws from a generator seeded afresh each time."""
    gen = torch.Generator().manual_seed(run.cfg.seed)
    return lambda x: run.encode(run.data.batch(x, False), gen)


def validation_accuracy(run: Run) -> float:
    """The student's accuracy on the validation split, batch norm recalibrated first (every epoch)."""
    from snnkd.evaluation import metrics as M

    _recalibrate_bn(run)
    return M.accuracy(run.model, run.data.val, _eval_encoder(run), run.cfg.train.eval_batch_size, run.device)


def final_metrics(run: Run, train_seconds: float, stopper: EarlyStopping | None = None) -> dict[str, Any]:
    """Test metrics of the trained student, with what produced them."""
    from snnkd.evaluation import metrics as M

    cfg = run.cfg
    encode = _eval_encoder(run)
    bits = getattr(run.model, "weight_bits", 32)
    # one pass: accuracy, spikes, SynOps, MACs (BN folded), energy and the neurobench block
    costs = "int8" if bits <= 8 else "fp32"
    test = M.evaluate(run.model, run.data.test, encode, cfg.train.eval_batch_size, run.device, costs)
    val = M.accuracy(run.model, run.data.val, _eval_encoder(run), cfg.train.eval_batch_size, run.device)
    n_ops = min(256, len(run.data.test))
    x_ops = encode(run.data.test.x[:n_ops].to(run.device))
    from snnkd.quant import quant_metrics  # bit widths, size in bits, SpikeSim (quantized and FP)

    hardware = quant_metrics(run.model, x_ops)
    return {
        "test_accuracy": test.pop("accuracy"),
        "val_accuracy": val,
        **test,
        **M.model_size(run.model, bits),
        **hardware,
        "train_seconds": train_seconds,
        "epochs": len(run.history),  # epochs actually trained
        "max_epochs": cfg.train.epochs,
        "best_epoch": stopper.best_epoch if stopper is not None and stopper.best_epoch else len(run.history),
        "stopped_early": bool(stopper is not None and stopper.stopped),
        "method": run.method.name,
        "paper": run.method.paper,
        "hparams": run.hparams,
        "terms": [{"name": t.name, "weight": t.weight, "params": dict(t.params)} for t in run.loss.terms],
        "teacher": None
        if run.teacher is None
        else {
            "path": run.teacher.path,
            "sha256": run.teacher.digest,
            "model": run.teacher.config["model"],
            "ann": run.teacher.config["ann"],
        },
        "history": run.history,
        "identity": cfg.identity(),
        "config": cfg.model_dump(),
        "device": str(run.device),
    }


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``run.json``, ``curve.csv`` and, last, ``metrics.json`` (:mod:`snnkd.evaluation.run_files`)."""
    from snnkd.evaluation import run_files

    return run_files.write(out_dir, metrics)[-1]


def summary(metrics: dict[str, Any]) -> str:
    """A short human summary of a finished run."""
    lines = [
        f"method {metrics['method']}: test accuracy {100 * metrics['test_accuracy']:.2f} %"
        f" (val {100 * metrics['val_accuracy']:.2f} %)",
    ]
    if "spikes_per_sample" in metrics:
        lines.append(
            f"spikes/sample {metrics['spikes_per_sample']:.1f}, firing rate "
            f"{metrics['firing_rate']:.4f}, SynOps {metrics['synops']:.3g}, "
            f"MACs {metrics['macs']:.3g}, energy {metrics['energy_pj'] / 1e6:.4g} uJ"
        )
    lines.append(
        f"{metrics['params']} parameters, {metrics['train_seconds'] / 60:.2f} min training, "
        f"{metrics['latency_ms_per_sample']:.3f} ms/sample inference"
    )
    return "\n".join(lines)


def evaluate_checkpoint(
    path: str | Path, split: str = "test", device: str = "auto", plugin_dirs: list[str] | tuple = ()
) -> dict[str, Any]:
    """Rebuild the network stored in ``path`` and measure it on ``split``.

    Its method is found among the built-ins, entry points and ``plugin_dirs`` (``--plugin-dir``),
    never in folders the checkpoint names (:mod:`snnkd.trainer.reload`).
    """
    from snnkd.data import load_splits
    from snnkd.data.encoders import ENCODERS
    from snnkd.evaluation import metrics as M
    from snnkd.trainer.run import pick_device, rebuild_from_state

    state = checkpoint.load(path)
    cfg = validate(state["config"])
    dev = pick_device(device)
    model = rebuild_from_state(state, plugin_dirs, path).to(dev)
    data = load_splits(cfg.dataset, cfg.data_dir)
    gen = torch.Generator().manual_seed(cfg.seed)

    def encode(x):
        return ENCODERS.get(cfg.encoder)(data.batch(x, False), cfg.steps, gen)

    result = M.evaluate(model, getattr(data, split), encode, cfg.train.eval_batch_size, dev)
    result.update(split=split, epoch=state["epoch"], checkpoint=str(path))
    return result
