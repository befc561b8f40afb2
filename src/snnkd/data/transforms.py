"""Batch transforms for stored datasets: stored dtype -> float model input.

Each factory takes the statistics saved at staging time and returns
``(transform, augments)`` as :class:`~snnkd.data.registry.Splits` expects.
Random augmentation draws from the generator the trainer passes (a CPU
generator seeded per epoch), so runs are reproducible on any device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from snnkd.data.registry import BatchTransform


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator | None) -> torch.Tensor:
    """Zero-pad ``x [B, C, H, W]`` by ``pad``, crop back to ``H x W`` at a random offset, flip half.

    The usual CIFAR augmentation (``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip``),
    vectorised over the batch.
    """
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    off = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = off[0, :, None] + torch.arange(h, device=x.device)  # [B, H]
    cols = off[1, :, None] + torch.arange(w, device=x.device)  # [B, W]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def image(
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_pad: int = 0,
) -> tuple[BatchTransform, bool]:
    """uint8 images ``[B, C, H, W]`` -> float in [0, 1], optionally augmented, then normalised.

    ``crop_pad > 0`` turns on random crop + horizontal flip for training batches.
    Without ``mean``/``std`` the output stays in [0, 1] (what rate encoding needs).
    """

    def transform(x: torch.Tensor, train: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        out = x.float() / 255.0
        if train and crop_pad > 0:
            out = random_crop_flip(out, crop_pad, generator)
        if mean is not None and std is not None:
            m = torch.tensor(mean, device=out.device).view(1, -1, 1, 1)
            s = torch.tensor(std, device=out.device).view(1, -1, 1, 1)
            out = (out - m) / s
        return out

    return transform, crop_pad > 0


def standardise(stats: dict[str, Any]) -> tuple[BatchTransform, bool]:
    """Features (float16) -> float32, standardised with the train split's ``mean``/``std`` tensors."""
    mean, std = stats["mean"].float(), stats["std"].float()

    def transform(x: torch.Tensor, train: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        return (x.float() - mean.to(x.device)) / std.to(x.device)

    return transform, False


def frames(_: dict[str, Any]) -> tuple[BatchTransform, bool]:
    """Event frames (uint8 counts ``[B, T, 2, H, W]``) -> float counts (made time-major by the encoder)."""

    def transform(x: torch.Tensor, train: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.float()

    return transform, False
