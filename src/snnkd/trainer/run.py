"""One training run assembled: its method, loss, data, student, teacher and device, before any work.

:func:`prepare` resolves and checks a :class:`~snnkd.core.config.RunConfig` (thread
limit and CPU kind, the method and its hyper-parameters, the readout and the
teacher the method needs), loads the dataset, seeds every generator from the
run's seed and builds the student (:func:`build_student`); any refusal is a
:class:`~snnkd.errors.ConfigError` raised before an output is written. The
trainer (:mod:`snnkd.trainer.loop`) and the evaluation (:mod:`snnkd.evaluation.evaluate`) work on
the :class:`Run` it returns. :func:`rebuild_from_state` is the network of a
trained run, read back from its checkpoint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkd.core.config import RunConfig
from snnkd.data import Splits, load_splits
from snnkd.data.encoders import ENCODERS
from snnkd.errors import ConfigError
from snnkd.methods import Method, RecipeLoss, get_method
from snnkd.models import build_model, preset_for
from snnkd.models.builders import SpikingNet
from snnkd.trainer.teacher import Teacher


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
    the checkpoint's own ``config.plugin_dirs`` (:mod:`snnkd.trainer.reload`).
    """
    from snnkd.trainer.reload import network

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
    from snnkd.trainer.threads import limit, require_isa

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
