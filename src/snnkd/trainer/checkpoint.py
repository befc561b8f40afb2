"""Checkpoints: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from snnkd.core.atomic import atomic_write
from snnkd.errors import CheckpointError

FORMAT = "snnkd-checkpoint-v1"


def save(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically; equal states give byte-identical files.

    ``torch.save`` is handed an open file, not a name: given a name it stores the
    (random) temporary file's name inside the archive.
    """

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)

    atomic_write(path, write)


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint; a missing, corrupted or foreign file raises CheckpointError."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint: file not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if first.startswith("Weights only load failed"):  # torch's advice to unpickle anything: not ours
            first = "not a file of tensors and plain data"
        raise CheckpointError(f"checkpoint: {p} is corrupted or not a checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint: {p} is not an snnkd checkpoint")
    check_fields(state, p)
    return state


#: what every checkpoint holds, with its type (a training checkpoint also holds its optimizer's state)
FIELDS: dict[str, type] = {"config": dict, "identity": str, "spec": dict, "model": dict, "epoch": int}
#: the keys of ``spec`` a network is rebuilt from (:func:`snnkd.models.builders.rebuild`)
SPEC_FIELDS = ("arch", "input_shape", "num_classes", "neuron", "ann", "readout", "kwargs")


def check_fields(state: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint with our marker but a missing or damaged field, in one line.

    Checked once, on load: every field of :data:`FIELDS` present with its type, the
    weights a mapping of names to tensors, the spec's keys present and the config a
    valid :class:`~snnkd.core.config.RunConfig`.
    Whether the spec builds a network that takes the weights is checked when it is
    rebuilt (:mod:`snnkd.trainer.reload`).
    """
    from snnkd.core.config import validate
    from snnkd.errors import ConfigError

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint: {path} is damaged: {what}")

    for name, kind in FIELDS.items():
        if name not in state:
            raise damaged(f"its {name} is missing")
        value = state[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise damaged(f"its {name} is a {type(value).__name__}, not a {kind.__name__}")
    weights = state["model"]
    if not weights or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise damaged("its weights (model) are not a mapping of names to tensors")
    missing = [k for k in SPEC_FIELDS if k not in state["spec"]]
    if missing:
        raise damaged(f"spec.{missing[0]} is missing")
    try:
        validate(state["config"])
    except ConfigError as err:
        raise damaged(f"config: {err}") from None


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
