"""The one training loop every method runs through.

Per batch: encode ``x`` to ``[T, B, ...]``, run the student through a
:class:`~snnkd.trace.Tracer` that records exactly the knowledge the method's
terms read, fetch the teacher's knowledge (from the cache when inputs are
deterministic, else a forward pass under ``torch.inference_mode``), and
minimise ``sum_i w_i * term_i``. Checkpoints are written atomically after every
epoch; a resumed run ends with the same metrics as an uninterrupted one,
because every epoch's randomness is seeded from ``(seed, epoch)``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from snnkd import checkpoint, no_dynamo
from snnkd.config import RunConfig
from snnkd.data import Splits, load_splits
from snnkd.data.encoders import ENCODERS, is_deterministic
from snnkd.data.loader import batches, num_batches
from snnkd.early_stopping import EarlyStopping
from snnkd.errors import CheckpointError, ConfigError, TrainingDiverged
from snnkd.methods import Method, RecipeLoss, get_method
from snnkd.models import build_model, preset_for
from snnkd.models.builders import SpikingNet
from snnkd.trace import Knowledge, Tracer

EpochCallback = Callable[[int, dict[str, float]], None]
#: per-epoch statistics that are timings, kept out of checkpoints so that identical runs give identical files
TIMINGS = ("epoch_seconds",)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' asked for but no CUDA device is available")
    return torch.device(name)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator for one epoch's shuffling and rate encoding."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class Teacher:
    """A frozen network the student learns from, with its own time steps."""

    model: SpikingNet
    config: dict[str, Any]
    path: str
    digest: str
    steps: int
    encoder: str

    @classmethod
    def load(cls, path: str, device: torch.device, plugin_dirs: list[str] | tuple = ()) -> Teacher:
        """``plugin_dirs`` are the student's (the user's); the teacher checkpoint's own are never loaded."""
        state = checkpoint.load(path)
        model = rebuild_from_state(state, plugin_dirs, path)
        bad = non_finite_tensors(model)
        if bad:
            raise CheckpointError(
                f"teacher: {path} holds non-finite weights ({bad[0]} and {len(bad) - 1} more); "
                "it cannot be learnt from: train the teacher again"
            )
        model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        cfg = state["config"]
        steps = 1 if cfg["ann"] else int(cfg["T"])
        return cls(model, cfg, str(path), checkpoint.file_hash(path), steps, cfg["encoder"])


_TEACHER_CACHE: dict[tuple, Knowledge] = {}


@dataclass
class Run:
    """Everything resolved for one training run, before any work is done."""

    cfg: RunConfig
    method: Method
    hparams: dict[str, Any]
    loss: RecipeLoss
    student_needs: set[str]
    teacher_needs: set[str]
    data: Splits
    model: SpikingNet
    teacher: Teacher | None
    device: torch.device
    history: list[dict[str, float]] = field(default_factory=list)
    reference_loss: float | None = None  # the first batch's loss: the scale divergence is judged on

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return ENCODERS.get(self.cfg.encoder)(x, self.cfg.steps, generator)

    def teacher_input(self, x: torch.Tensor, x_seq: torch.Tensor, generator) -> torch.Tensor:
        t = self.teacher
        if t.steps == x_seq.shape[0] and t.encoder == self.cfg.encoder:
            return x_seq
        return ENCODERS.get(t.encoder)(x, t.steps, generator)


def rebuild_from_state(
    state: dict[str, Any], plugin_dirs: list[str] | tuple = (), source: str | Path = "checkpoint"
) -> SpikingNet:
    """The trained network of a loaded checkpoint, its method's transform (quantization) applied.

    The method comes from ``plugin_dirs`` (the user's), the built-ins and entry points, never from
    the checkpoint's own ``config.plugin_dirs`` (:mod:`snnkd.reload`).
    """
    from snnkd.reload import network

    return network(state, source, plugin_dirs)


def build_student(cfg: RunConfig, data: Splits, method: Method) -> SpikingNet:
    arch, kwargs = preset_for(cfg.dataset, cfg.model)
    model = build_model(
        arch,
        data.info.input_shape,
        data.info.num_classes,
        cfg.neuron,
        ann=cfg.ann,
        readout=cfg.readout,
        **kwargs,
    )
    if method.transform is not None:
        model = method.transform(model, cfg)
    return model


def prepare(cfg: RunConfig) -> Run:
    """Resolve and check everything; raises ConfigError before any output is written."""
    from snnkd.threads import limit, require_isa

    limit(cfg.threads)
    require_isa(cfg.cpu_isa)
    method = get_method(cfg.method, cfg.plugin_dirs)
    cfg.hparams = method.canonical(cfg.hparams)  # in their declared types, before any identity is taken
    hparams = method.resolve(cfg.hparams)
    terms = method.terms(hparams)
    student_needs, teacher_needs = method.needs(hparams)
    if method.readout is not None and cfg.readout != method.readout:
        raise ConfigError(
            f"readout: method '{method.name}' needs readout '{method.readout}' "
            f"(a spiking output layer); got '{cfg.readout}'"
        )
    if "out_spikes" in student_needs and cfg.readout != "spiking":
        raise ConfigError(f"readout: method '{method.name}' needs the student's output spikes")
    device = pick_device(cfg.device)
    teacher = None
    if teacher_needs:
        if not cfg.teacher:
            raise ConfigError(
                f"teacher: method '{method.name}' learns from a {method.teacher} network; "
                "give its checkpoint with --teacher"
            )
        teacher = Teacher.load(cfg.teacher, device, cfg.plugin_dirs)
        if "out_spikes" in teacher_needs and not teacher.model.spiking_output:
            raise ConfigError(
                f"teacher: method '{method.name}' needs the teacher's output spikes, "
                f"but {cfg.teacher} has no spiking output layer"
            )
        if teacher.config["dataset"] != cfg.dataset:
            raise ConfigError(f"teacher: trained on '{teacher.config['dataset']}', not on '{cfg.dataset}'")
    data = load_splits(cfg.dataset, cfg.data_dir)
    seed_everything(cfg.seed)
    model = build_student(cfg, data, method).to(device)
    return Run(
        cfg,
        method,
        hparams,
        RecipeLoss(terms),
        student_needs | {"logits"},
        teacher_needs,
        data,
        model,
        teacher,
        device,
    )


def teacher_cache_dir() -> Path:
    """Where teacher knowledge is cached on disk: ``$SNNKD_CACHE_DIR`` or ``~/.cache/snnkd``."""
    import os

    root = os.environ.get("SNNKD_CACHE_DIR") or Path.home() / ".cache" / "snnkd"
    return Path(root) / "teacher-knowledge"


def _teacher_knowledge(run: Run, tracer: Tracer) -> Knowledge | None:
    """The teacher's knowledge of the whole train split, when inputs are deterministic.

    Kept in memory (across epochs and runs in one process) and on disk (across
    processes: seeds and methods), keyed by the teacher checkpoint's SHA-256,
    the dataset, the teacher's steps and encoder and the fields recorded.
    """
    t = run.teacher
    if run.data.augments or not (is_deterministic(run.cfg.encoder) and is_deterministic(t.encoder)):
        return None
    fields = "-".join(sorted(run.teacher_needs))
    key = f"{t.digest[:16]}-{run.cfg.dataset}-T{t.steps}-{t.encoder}-{fields}"
    if key in _TEACHER_CACHE:
        return _TEACHER_CACHE[key].to(run.device)
    path = teacher_cache_dir() / f"{key}.pt"
    expected = _expected_layout(run, tracer)
    if path.is_file():
        try:
            knowledge = Knowledge(**torch.load(path, map_location="cpu", weights_only=True))
        except Exception:  # a damaged cache entry is recomputed
            knowledge = None
        # a stale or damaged entry (shape, dtype, a missing field, NaN) is recomputed
        if knowledge is not None and _cache_valid(knowledge, expected, len(run.data.train)):
            _TEACHER_CACHE[key] = knowledge
            return knowledge.to(run.device)
    parts = []
    with torch.inference_mode():
        for _, x, _ in batches(run.data.train, run.cfg.train.eval_batch_size, shuffle=False):
            x = run.data.batch(x.to(run.device), False)
            parts.append(tracer(ENCODERS.get(t.encoder)(x, t.steps)))
            _reset(t.model)
    knowledge = Knowledge.cat(parts).clone().to("cpu")
    _check_teacher_knowledge(run, knowledge)
    _TEACHER_CACHE[key] = knowledge
    try:
        checkpoint.atomic_write(path, lambda p: torch.save(vars(knowledge), p))
    except OSError:
        pass  # a read-only cache location only costs recomputation
    return knowledge.to(run.device)


def _named_tensors(k: Knowledge) -> list[tuple[str, torch.Tensor, int]]:
    """Every tensor of a knowledge record: (field name, tensor, batch dimension)."""
    out = [("logits", k.logits, 0)]
    out += [(n, getattr(k, n), 1) for n in ("readout", "out_spikes") if getattr(k, n) is not None]
    for group in ("spikes", "membrane"):
        out += [(f"{group}.{layer}", t, 1) for layer, t in getattr(k, group).items()]
    return out


def _layout(k: Knowledge) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Shape (batch dimension as -1) and dtype of every tensor of a knowledge record."""
    return {
        name: (tuple(-1 if d == dim else n for d, n in enumerate(t.shape)), t.dtype)
        for name, t, dim in _named_tensors(k)
    }


def _expected_layout(run: Run, tracer: Tracer | None) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """The layout the teacher's knowledge of the train split must have (from a two-sample probe)."""
    t = run.teacher
    tracer = tracer or Tracer(t.model, run.teacher_needs)
    with torch.inference_mode():
        x = run.data.batch(run.data.train.x[:2].to(run.device), False)
        probe = tracer(ENCODERS.get(t.encoder)(x, t.steps))
        _reset(t.model)
    return _layout(probe)


def _cache_valid(k: Knowledge, expected: dict, rows: int) -> bool:
    """A cached record fits: every field in the expected shape and dtype, ``rows`` samples, finite."""
    return (
        _layout(k) == expected
        and all(t.shape[dim] == rows for _, t, dim in _named_tensors(k))
        and not _non_finite_fields(k)
    )


def _non_finite_fields(k: Knowledge) -> list[str]:
    return [
        name
        for name, t, _ in _named_tensors(k)
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def _check_teacher_knowledge(run: Run, k: Knowledge) -> None:
    """Refuse a teacher whose outputs on the train split are not finite, naming its checkpoint."""
    bad = _non_finite_fields(k)
    if not bad:
        return
    rows = int((~torch.isfinite(k.logits)).any(1).sum())
    raise CheckpointError(
        f"teacher: {run.teacher.path} gives non-finite {bad[0]} (logits non-finite on {rows} of "
        f"{len(k.logits)} training samples); it cannot be learnt from: train the teacher again"
    )


def non_finite_tensors(*modules: nn.Module) -> list[str]:
    """Names of floating-point parameters and buffers holding NaN or infinity."""
    bad = []
    for module in modules:
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                bad.append(name)
    return bad


#: a batch loss above ``DIVERGENCE_FACTOR * max(first batch loss, 1)`` means the run diverged
DIVERGENCE_FACTOR = 1e3


def check_divergence(run: Run, epoch: int, losses: list[torch.Tensor]) -> None:
    """Stop a run that diverged while its loss stayed finite; called after every epoch.

    Diverged means: some batch's loss exceeded ``DIVERGENCE_FACTOR`` times the run's
    first batch loss (at least 1), or a parameter or buffer (batch-norm statistics
    included) of the student or its loss is NaN or infinite. Such a run would
    otherwise publish a chance-level checkpoint.
    """
    if not losses:
        return
    values = torch.stack([v.float() for v in losses])
    if run.reference_loss is None:
        run.reference_loss = float(values[0])
    peak = float(values.max())
    limit = DIVERGENCE_FACTOR * max(run.reference_loss, 1.0)
    advice = "lower the learning rate (or set train.grad_clip) or the loss weights"
    if peak > limit:
        raise TrainingDiverged(
            f"loss exploded to {peak:.3g} in epoch {epoch} (first batch: {run.reference_loss:.3g}, "
            f"limit {limit:.3g}); {advice}"
        )
    bad = non_finite_tensors(run.model, run.loss)
    if bad:
        raise TrainingDiverged(
            f"{len(bad)} parameters or buffers became NaN or infinite in epoch {epoch} "
            f"(first: {bad[0]}); {advice}"
        )


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


def _optimizer(run: Run) -> tuple[torch.optim.Optimizer, Any]:
    no_dynamo.install()  # no torch._dynamo import (2-4 s): snnkd never compiles
    tc = run.cfg.train
    params = list(run.model.parameters()) + list(run.loss.parameters())
    if tc.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay)
    elif tc.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay)
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
    from snnkd import metrics as M

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
        _recalibrate_bn(run)
        stats["val_accuracy"] = M.accuracy(
            run.model, run.data.val, _eval_encoder(run), cfg.train.eval_batch_size, run.device
        )
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


#: what a training checkpoint holds beyond :data:`snnkd.checkpoint.FIELDS`, with its type
TRAINING_FIELDS: dict[str, type] = {"loss": dict, "optimizer": dict, "scheduler": dict, "history": list}


def _restore(run: Run, path: Path, opt, sched, stopper: EarlyStopping) -> int:
    """Load the training state of ``path`` into ``run`` (``--resume``); returns the last epoch trained.

    The whole checkpoint is checked first: it is this run's (identity and network spec),
    every training field is present and loads; a damaged one is never resumed from.
    """
    from snnkd.reload import brief

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


def _recalibrate_bn(run: Run) -> None:
    """Batch-norm statistics from the training split before evaluating (see :mod:`snnkd.batchnorm`)."""
    from snnkd.batchnorm import recalibrate

    gen = torch.Generator().manual_seed(run.cfg.seed)
    recalibrate(
        run.model,
        run.data.train.x,
        lambda x: run.encode(run.data.batch(x, False), gen),
        run.cfg.train.eval_batch_size,
        run.device,
        max_samples=run.cfg.train.bn_samples,
    )


def _has_module(name: str) -> bool:
    from snnkd.terms import TERMS

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


def _eval_encoder(run: Run) -> Callable[[torch.Tensor], torch.Tensor]:
    """Encoding for evaluation: rate encoding draws from a generator seeded afresh each time."""
    gen = torch.Generator().manual_seed(run.cfg.seed)
    return lambda x: run.encode(run.data.batch(x, False), gen)


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


def final_metrics(run: Run, train_seconds: float, stopper: EarlyStopping | None = None) -> dict[str, Any]:
    """Test metrics of the trained student, with what produced them."""
    from snnkd import metrics as M

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
    """Write ``run.json``, ``curve.csv`` and, last, ``metrics.json`` (:mod:`snnkd.run_files`)."""
    from snnkd import run_files

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
