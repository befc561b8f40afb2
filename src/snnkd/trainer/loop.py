"""The one training loop every method runs through.

Per batch: encode ``x`` to ``[T, B, ...]``, run the student through a
:class:`~snnkd.methods.trace.Tracer` that records exactly the knowledge the method's
terms read, fetch the teacher's knowledge (from the cache of
:mod:`snnkd.trainer.teacher` when inputs are deterministic, else a forward pass under
``torch.inference_mode``), and minimise ``sum_i w_i * term_i``. After every
epoch: the divergence rule (:mod:`snnkd.trainer.divergence`), the validation accuracy
(:func:`snnkd.evaluation.evaluate.validation_accuracy`), early stopping, and an atomic
checkpoint. A resumed run ends with the same metrics and checkpoint bytes as an
uninterrupted one, because every epoch's randomness is seeded from
``(seed, epoch)`` (:func:`epoch_generator`). The run itself is assembled by
:func:`snnkd.trainer.run.prepare`; the finished run is measured by
:func:`snnkd.evaluation.evaluate.final_metrics`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from snnkd.data.loader import batches, num_batches
from snnkd.errors import CheckpointError, ConfigError, TrainingDiverged
from snnkd.evaluation.evaluate import final_metrics, validation_accuracy
from snnkd.methods.trace import Tracer
from snnkd.trainer import checkpoint
from snnkd.trainer.divergence import check_divergence
from snnkd.trainer.early_stopping import EarlyStopping
from snnkd.trainer.run import Run
from snnkd.trainer.teacher import _teacher_knowledge
from snnkd.trainer.threads import fused_optimizer

EpochCallback = Callable[[int, dict[str, float]], None]
#: per-epoch statistics that are timings, kept out of checkpoints so that identical runs give identical files
TIMINGS = ("epoch_seconds",)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator for one epoch's shuffling and rate encoding."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


def _optimizer(run: Run) -> tuple[torch.optim.Optimizer, Any]:
    tc = run.cfg.train
    params = list(run.model.parameters()) + list(run.loss.parameters())
    fused = True if fused_optimizer(run.cfg.cpu_isa) else None  # None: torch's default step
    if tc.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay)
    elif tc.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay, fused=fused)
    else:
        opt = torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay, fused=fused)
    if tc.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tc.epochs)
    elif tc.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=tc.step_size, gamma=tc.gamma)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled or None, file=sys.stderr)


def train_epoch(run, opt, epoch, student_tracer, teacher_tracer, cache, show) -> dict[str, float]:
    cfg, model = run.cfg, run.model
    model.train()
    if cfg.train.channels_last:  # GPU path: NHWC convolutions (a no-op after the first epoch)
        model.to(memory_format=torch.channels_last)
    amp = torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.train.amp)
    gen = epoch_generator(cfg.seed, epoch)
    sums: dict[str, list[torch.Tensor]] = {}
    losses: list[torch.Tensor] = []  # per batch, checked for divergence once the epoch ends
    seen = 0
    bar = _progress(num_batches(run.data.train, cfg.train.batch_size), f"epoch {epoch}", show)
    pin = run.device.type == "cuda"  # pinned host batches make the copies below asynchronous
    for idx, x, y in batches(run.data.train, cfg.train.batch_size, shuffle=True, generator=gen, pin=pin):
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        with amp:
            x = run.data.batch(x, True, gen)
            x_seq = run.encode(x, gen)
            student = student_tracer(x_seq)
            teacher = None
            if run.teacher is not None:
                if cache is not None:
                    teacher = cache.select(idx)
                else:
                    with torch.inference_mode():
                        teacher = teacher_tracer(run.teacher_input(x, x_seq, gen))
                        _reset(run.teacher.model)
                    teacher = teacher.clone()
            loss, parts = run.loss(student, teacher, y)
        if not torch.isfinite(loss):
            if teacher is not None and not bool(torch.isfinite(teacher.logits).all()):
                raise CheckpointError(
                    f"teacher: {run.teacher.path} gives non-finite logits in epoch {epoch}; "
                    "it cannot be learnt from: train the teacher again"
                )
            raise TrainingDiverged(
                f"loss became {float(loss)} at epoch {epoch} (terms: "
                + ", ".join(f"{k}={float(v):.4g}" for k, v in parts.items())
                + "); lower the learning rate or the loss weights"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        _step(opt, epoch)
        _reset(model)
        b = len(y)
        seen += b
        # kept as tensors and summed once per epoch: no per-batch conversions to Python floats
        losses.append(loss.detach())
        sums.setdefault("loss", []).append(loss.detach() * b)
        for k, v in parts.items():
            sums.setdefault(f"loss_{k}", []).append(v * b)
        sums.setdefault("train_accuracy", []).append((student.logits.detach().argmax(1) == y).sum())
        bar.update(1)
    bar.close()
    check_divergence(run, epoch, losses)
    return {k: float(torch.stack(v).sum()) / seen for k, v in sums.items()}


def _step(opt: torch.optim.Optimizer, epoch: int) -> None:
    """``opt.step()``; a step too large for float32 (Adam's ``lr / (1 - beta1^t)`` at ``lr`` 1e38)
    is divergence, as a non-finite loss is, not a traceback."""
    try:
        opt.step()
    except RuntimeError as err:
        if "overflow" not in str(err):
            raise
        raise TrainingDiverged(
            f"the optimizer's step overflowed float32 in epoch {epoch} ({str(err).strip()}); "
            "lower the learning rate"
        ) from None


def fit(
    run: Run,
    out_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_epoch: EpochCallback | None = None,
    stop_after: int | None = None,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Train ``run`` for its epochs, checkpointing into ``out_dir``; returns final metrics.

    ``stop_after`` ends the loop after that epoch (to test resuming). With ``evaluate=False``
    the test split is never touched (tuning trials): only ``epochs`` and ``best_epoch`` are returned.
    """
    cfg = run.cfg
    ckpt_path = out_dir / "checkpoint.pt"
    student_tracer = Tracer(run.model, run.student_needs)
    teacher_tracer = cache = None
    if run.teacher is not None:
        teacher_tracer = Tracer(run.teacher.model, run.teacher_needs)
        cache = _teacher_knowledge(run, teacher_tracer)
    if run.loss.terms and any(_has_module(t.name) for t in run.loss.terms):
        _setup_loss(run, student_tracer, teacher_tracer)
    opt, sched = _optimizer(run)
    stopper = EarlyStopping(cfg.train.patience, cfg.train.min_delta)
    start = 1
    if resume and ckpt_path.exists():
        start = _restore(run, ckpt_path, opt, sched, stopper) + 1
    t_start = time.perf_counter()
    last = min(cfg.train.epochs, stop_after) if stop_after else cfg.train.epochs
    epoch = start - 1
    for epoch in range(start, last + 1):
        if stopper.stopped:
            break
        t0 = time.perf_counter()
        stats = train_epoch(run, opt, epoch, student_tracer, teacher_tracer, cache, show_progress)
        sched.step()
        stats["val_accuracy"] = validation_accuracy(run)
        stats["epoch_seconds"] = time.perf_counter() - t0
        stats["epoch"] = epoch
        run.history.append(stats)
        stopper.update(epoch, stats["val_accuracy"], run.model)
        checkpoint.save(ckpt_path, _state(run, opt, sched, epoch, stopper))
        if on_epoch is not None:
            on_epoch(epoch, stats)
        if show_progress:
            print(
                f"epoch {epoch:3d}/{cfg.train.epochs}  loss {stats['loss']:.4f}  "
                f"train {stats['train_accuracy']:.3f}  val {stats['val_accuracy']:.3f}  "
                f"({stats['epoch_seconds']:.1f}s)",
                file=sys.stderr,
            )
    train_seconds = time.perf_counter() - t_start
    if last < cfg.train.epochs and not stopper.stopped:
        return {"stopped_after": last}
    if cfg.train.patience is not None:  # the best-validation weights are the result
        stopper.restore(run.model)
        checkpoint.save(ckpt_path, _state(run, opt, sched, len(run.history), stopper))
    if not evaluate:
        return {"epochs": len(run.history), "best_epoch": stopper.best_epoch, "train_seconds": train_seconds}
    return final_metrics(run, train_seconds, stopper)


#: what a training checkpoint holds beyond :data:`snnkd.trainer.checkpoint.FIELDS`, with its type
TRAINING_FIELDS: dict[str, type] = {"loss": dict, "optimizer": dict, "scheduler": dict, "history": list}


def _restore(run: Run, path: Path, opt, sched, stopper: EarlyStopping) -> int:
    """Load the training state of ``path`` into ``run`` (``--resume``); returns the last epoch trained.

    The whole checkpoint is checked first: it is this run's (identity and network spec),
    every training field is present and loads; a damaged one is never resumed from.
    """
    from snnkd.trainer.reload import brief

    state = checkpoint.load(path)
    if state["identity"] != run.cfg.identity():
        raise ConfigError(f"--resume: {path} belongs to another configuration; remove it or change --out")

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"--resume: {path} is damaged: {what}; remove it to train afresh")

    if state["spec"] != run.model.spec:
        raise damaged("its spec is not this run's network")
    for name, kind in TRAINING_FIELDS.items():
        if not isinstance(state.get(name), kind):
            raise damaged(f"its {name} is missing or not a {kind.__name__}")
    if not all(isinstance(h, dict) for h in state["history"]):
        raise damaged("its history is not a list of per-epoch records")
    epoch = state["epoch"]
    if not 0 <= epoch <= run.cfg.train.epochs or len(state["history"]) != epoch:
        raise damaged(f"epoch {epoch} does not fit its {len(state['history'])} epochs of history")
    parts = [
        ("model", run.model.load_state_dict),
        ("loss", run.loss.load_state_dict),
        ("optimizer", opt.load_state_dict),
        ("scheduler", sched.load_state_dict),
    ]
    if "early_stopping" in state:
        parts.append(("early_stopping", stopper.load_state_dict))
    for name, load in parts:
        try:
            load(state[name])
        except Exception as err:  # missing keys, wrong shapes, wrong types
            raise damaged(f"its {name} does not load ({brief(err)})") from None
    run.history = list(state["history"])
    return epoch


def _has_module(name: str) -> bool:
    from snnkd.methods.terms import TERMS

    return TERMS.get(name).module is not None


def _setup_loss(run: Run, student_tracer: Tracer, teacher_tracer: Tracer | None) -> None:
    """Build learned parts of terms (adapters) from one small batch."""
    x = run.data.batch(run.data.train.x[:2].to(run.device), False)
    with torch.no_grad():
        x_seq = run.encode(x, torch.Generator().manual_seed(0))
        s = student_tracer(x_seq)
        _reset(run.model)
        k = None
        if teacher_tracer is not None:
            k = teacher_tracer(run.teacher_input(x, x_seq, None))
            _reset(run.teacher.model)
    run.loss.setup(s, k)
    run.loss.to(run.device)


def _state(run: Run, opt, sched, epoch: int, stopper: EarlyStopping) -> dict[str, Any]:
    """The checkpoint; once a run with ``patience`` has ended, ``model`` holds its best-validation weights."""
    return {
        "config": run.cfg.model_dump(),
        "identity": run.cfg.identity(),
        "spec": run.model.spec,
        "model": run.model.state_dict(),
        "loss": run.loss.state_dict(),
        "optimizer": _interned_keys(opt.state_dict()),
        "scheduler": sched.state_dict(),
        "epoch": epoch,
        # timings differ between identical runs: they stay in metrics.json and MLflow
        "history": [{_stat_name(k): v for k, v in h.items() if k not in TIMINGS} for h in run.history],
        "early_stopping": stopper.state_dict(),
    }


#: the trainer's own per-epoch statistics; a term's ``loss_<term>`` is named afresh every epoch
STATS = ("loss", "train_accuracy", "val_accuracy", "epoch")


def _interned_keys(value: Any) -> Any:
    """``value`` with every string key of its (nested) dicts interned (:func:`sys.intern`).

    A checkpoint's bytes depend on which equal strings are one object: pickle writes
    a string once and refers back to it. An optimizer's keys are names in torch's code,
    hence interned (``lr`` also keys the config); after ``load_state_dict`` on resume
    they are the unpickled copies. Interning them again gives a resumed run the bytes
    of an uninterrupted one, and leaves an uninterrupted run's state as it is.
    """
    if isinstance(value, dict):
        return {sys.intern(k) if type(k) is str else k: _interned_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned_keys(v) for v in value]
    return value


def _stat_name(key: str) -> str:
    """A history key as a fresh epoch names it: the trainer's own names interned (see
    :func:`_interned_keys`), a term's loss as it is (a new string every epoch)."""
    return sys.intern(key) if key in STATS else key
