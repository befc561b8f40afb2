"""Input encoders: a sample batch ``[B, ...]`` to a time-major sequence ``[T, B, ...]``."""

from __future__ import annotations

import torch

from snnkd.core.registry import Registry
from snnkd.errors import ConfigError

ENCODERS: Registry = Registry("encoder")


@ENCODERS.register("direct")
def direct(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Direct encoding: the analog input repeated ``T`` times; the first layer encodes."""
    return x.unsqueeze(0).expand(steps, *x.shape)


@ENCODERS.register("rate")
def rate(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rate (Poisson/Bernoulli) encoding: ``s_t ~ Bernoulli(clamp(x, 0, 1))`` independently per step."""
    p = x.clamp(0.0, 1.0).unsqueeze(0).expand(steps, *x.shape)
    u = torch.rand(p.shape, generator=generator, device="cpu").to(x.device)
    return (u < p).to(x.dtype)


@ENCODERS.register("frames")
def frames(x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Event frames ``[B, T', ...]`` made time-major ``[T, B, ...]``.

    With ``steps < T'`` (``T'`` a multiple of ``steps``) adjacent frames are summed,
    so an ANN twin (one step) sees all events at once.
    """
    stored = x.shape[1]
    if stored % steps != 0:
        raise ConfigError(f"T: {stored} stored frames cannot be merged into T={steps} steps")
    seq = x.transpose(0, 1)
    if steps == stored:
        return seq
    return seq.reshape(steps, stored // steps, *seq.shape[1:]).sum(1)


def is_deterministic(name: str) -> bool:
    """True when the same sample always gives the same encoded sequence."""
    return name in ("direct", "frames")
