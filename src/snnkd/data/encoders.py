"""Input encoders: a sample batch ``[B, ...]`` to a time-major sequence ``[T, B, ...]``."""

from __future__ import annotations

import torch

from snnkd.registry import Registry

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


def is_deterministic(name: str) -> bool:
    """True when the same sample always gives the same encoded sequence."""
    return name == "direct"
