"""The frozen teacher a student learns from: loaded, validated, its knowledge cached.

:class:`Teacher` loads a checkpoint into a network with no gradients, refusing
non-finite weights. When every input the teacher sees is deterministic (no
augmentation, deterministic encoders for student and teacher), its knowledge of
the whole train split is computed once (:func:`_teacher_knowledge`) and reused:
in memory across epochs and runs of one process, on disk (:func:`teacher_cache_dir`)
across processes. A cached entry is used only when its layout (every field's
shape and dtype), row count and values (all finite) are what the teacher gives;
otherwise it is recomputed. A teacher whose outputs are not finite is refused,
naming its checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from spikingjelly.activation_based import functional

from snnkd.core.atomic import atomic_write
from snnkd.core.config import RunConfig
from snnkd.data import Splits
from snnkd.data.encoders import ENCODERS, is_deterministic
from snnkd.data.loader import batches
from snnkd.errors import CheckpointError
from snnkd.methods.trace import Knowledge, Tracer
from snnkd.models.builders import SpikingNet
from snnkd.trainer import checkpoint
from snnkd.trainer.divergence import non_finite_tensors

#: a knowledge record's layout: tensor name -> (shape with the batch dimension as -1, dtype)
Layout = dict[str, tuple[tuple[int, ...], torch.dtype]]


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
        from snnkd.trainer.reload import network

        state = checkpoint.load(path)
        model = network(state, path, plugin_dirs)
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


class TeacherRun(Protocol):
    """What the knowledge cache reads of a run (:class:`snnkd.trainer.run.Run`)."""

    cfg: RunConfig
    data: Splits
    teacher: Teacher | None
    teacher_needs: set[str]
    device: torch.device


_TEACHER_CACHE: dict[str, Knowledge] = {}


def teacher_cache_dir() -> Path:
    """Where teacher knowledge is cached on disk: ``$SNNKD_CACHE_DIR`` or ``~/.cache/snnkd``."""
    root = os.environ.get("SNNKD_CACHE_DIR") or Path.home() / ".cache" / "snnkd"
    return Path(root) / "teacher-knowledge"


def _teacher_knowledge(run: TeacherRun, tracer: Tracer | None) -> Knowledge | None:
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
            functional.reset_net(t.model)
    knowledge = Knowledge.cat(parts).clone().to("cpu")
    _check_teacher_knowledge(run, knowledge)
    _TEACHER_CACHE[key] = knowledge
    try:
        atomic_write(path, lambda p: torch.save(vars(knowledge), p))
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


def _layout(k: Knowledge) -> Layout:
    """Shape (batch dimension as -1) and dtype of every tensor of a knowledge record."""
    return {
        name: (tuple(-1 if d == dim else n for d, n in enumerate(t.shape)), t.dtype)
        for name, t, dim in _named_tensors(k)
    }


def _expected_layout(run: TeacherRun, tracer: Tracer | None) -> Layout:
    """The layout the teacher's knowledge of the train split must have (from a two-sample probe)."""
    t = run.teacher
    tracer = tracer or Tracer(t.model, run.teacher_needs)
    with torch.inference_mode():
        x = run.data.batch(run.data.train.x[:2].to(run.device), False)
        probe = tracer(ENCODERS.get(t.encoder)(x, t.steps))
        functional.reset_net(t.model)
    return _layout(probe)


def _cache_valid(k: Knowledge, expected: Layout, rows: int) -> bool:
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


def _check_teacher_knowledge(run: TeacherRun, k: Knowledge) -> None:
    """Refuse a teacher whose outputs on the train split are not finite, naming its checkpoint."""
    bad = _non_finite_fields(k)
    if not bad:
        return
    rows = int((~torch.isfinite(k.logits)).any(1).sum())
    raise CheckpointError(
        f"teacher: {run.teacher.path} gives non-finite {bad[0]} (logits non-finite on {rows} of "
        f"{len(k.logits)} training samples); it cannot be learnt from: train the teacher again"
    )
