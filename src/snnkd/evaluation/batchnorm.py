"""Batch-norm statistics recomputed from the training split before every evaluation ("precise BN").

Why: batch norm keeps an exponential moving average of the batch statistics,
``r <- (1 - m) r + m x_batch`` with ``m = 0.1``, started at ``mean = 0, var = 1``.
The spiking students' pre-activations have a variance of about 0.01-0.1, so after
the 17 updates of one digits epoch the running variance still holds
``0.9^17 ~ 17 %`` of its initial 1.0: it is 3-10x too large, the normalised inputs
are too small to reach the firing threshold in eval mode, no neuron spikes, and
every sample gets the same logits (chance accuracy, exactly 0.100 on digits).

The fix (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, "precise BN"):
before evaluating, reset the running statistics and recompute them as the plain
(cumulative) average of the batch statistics over a fixed part of the training
split, with ``torch.optim.swa_utils.update_bn``. Training itself is unchanged
(train mode normalises with batch statistics), so the trajectory, resuming and
determinism are unaffected; only what eval mode uses becomes right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

PRECISE_BN_SAMPLES = 2048  # a fixed random subset of the training split (all of it when smaller)
# (``train.bn_samples``, whose default this is, is additive: runs that set it are other runs)


class _ResetAfterForward(nn.Module):
    """Runs a spiking network on one batch and resets its neurons' state afterwards."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        out = self.model(x_seq)
        functional.reset_net(self.model)
        return out


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.inference_mode()
def recalibrate(
    model: nn.Module,
    x: torch.Tensor,
    encode: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    device: torch.device,
    max_samples: int = PRECISE_BN_SAMPLES,
) -> None:
    """Recompute every batch norm's running mean and variance from (at most ``max_samples`` of) ``x``.

    ``encode`` maps a raw batch to the network's ``[T, B, ...]`` input (no augmentation).
    A network without batch norm is left untouched. Runs under ``torch.inference_mode`` (no autograd
    bookkeeping; the 2x max-pools take their fast path, :mod:`snnkd.models.pooling`); the running
    statistics are updated in place, so they stay ordinary tensors that training can use.
    """
    from torch.optim.swa_utils import update_bn

    if not has_batchnorm(model):
        return
    if len(x) > max_samples:  # a fixed subset, the same every epoch and run: splits may be sorted by class
        pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:max_samples]
        x = x[pick.sort().values]

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(x), batch_size):
            yield encode(x[start : start + batch_size].to(device))

    was_training = model.training
    update_bn(batches(), _ResetAfterForward(model))
    model.train(was_training)
