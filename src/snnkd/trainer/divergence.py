"""A run that went numerically wrong: non-finite tensors and the divergence rule.

A run diverged when some batch's loss exceeds ``DIVERGENCE_FACTOR * max(L_1, 1)``,
``L_1`` its first batch's loss, or when a parameter or buffer of the student or
its loss (batch-norm statistics included) holds NaN or infinity. Such a run
would otherwise publish a chance-level checkpoint; it stops with
:class:`~snnkd.errors.TrainingDiverged` instead.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn as nn

from snnkd.errors import TrainingDiverged

#: a batch loss above ``DIVERGENCE_FACTOR * max(first batch loss, 1)`` means the run diverged
DIVERGENCE_FACTOR = 1e3


class WatchedRun(Protocol):
    """What the divergence rule reads of a run (:class:`~snnkd.trainer.run.Run`); sets ``reference_loss``."""

    model: nn.Module
    loss: nn.Module
    reference_loss: float | None


def non_finite_tensors(*modules: nn.Module) -> list[str]:
    """Names of floating-point parameters and buffers holding NaN or infinity."""
    bad = []
    for module in modules:
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                bad.append(name)
    return bad


def check_divergence(run: WatchedRun, epoch: int, losses: list[torch.Tensor]) -> None:
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
