"""SpikingJelly's 2x max-pools, with a faster forward where no gradient is recorded.

``y[i, j] = max(x[2i, 2j], x[2i, 2j + 1], x[2i + 1, 2j], x[2i + 1, 2j + 1])`` (1-D: ``max(x[2i], x[2i + 1])``;
an odd last row or column is dropped, as ``max_pool2d`` drops it).

Why: on the CPU, ATen's ``max_pool2d`` always runs its ``max_pool2d_with_indices`` kernel, which also
writes every window's argmax (for the backward); on the students' small spike maps that costs about
5x the same maximum taken with ``torch.maximum`` over the window's strided views. A maximum is
exact, so the values are ``max_pool2d``'s bit for bit (NaN propagates in both), up to the sign of a
zero when ``+0`` and ``-0`` share a window (spikes are never ``-0``).

With gradients recorded the layers run ``max_pool`` itself: ``torch.maximum`` splits the gradient of
a tie between its inputs, where ``max_pool`` routes it to the window's first maximum, and spike maps
are full of ties. Training and its results are therefore unchanged; evaluation and batch-norm
re-estimation (:mod:`snnkd.evaluation.batchnorm`, :func:`snnkd.evaluation.metrics.accuracy`) take the
fast path.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer
from torch.nn.modules.pooling import _MaxPoolNd
from torch.nn.modules.utils import _ntuple


def max_pool_2x(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Max over non-overlapping windows of 2 along each of the last ``dims`` dimensions."""
    for d in range(x.dim() - dims, x.dim()):
        half = x.shape[d] // 2
        pairs = x.narrow(d, 0, 2 * half).unflatten(d, (half, 2))
        x = torch.maximum(pairs.select(d + 1, 0), pairs.select(d + 1, 1))
    return x


def is_plain_2x(pool: _MaxPoolNd, dims: int) -> bool:
    """``pool`` is a 2x max-pool: kernel 2, stride 2, no padding or dilation, floor mode, no indices."""
    size = _ntuple(dims)
    return (
        size(pool.kernel_size) == (2,) * dims
        and size(pool.stride) == (2,) * dims
        and size(pool.padding) == (0,) * dims
        and size(pool.dilation) == (1,) * dims
        and not pool.ceil_mode
        and not pool.return_indices
    )


def _takes_fast_path(pool: _MaxPoolNd, x: torch.Tensor, dims: int) -> bool:
    steps = 1 if pool.step_mode == "m" else 0
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dim() == dims + 2 + steps
        and min(x.shape[-dims:]) >= 2  # else max_pool's own error
        and is_plain_2x(pool, dims)
    )


class MaxPool2d(layer.MaxPool2d):
    """:class:`spikingjelly.activation_based.layer.MaxPool2d`; without gradients, :func:`max_pool_2x`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _takes_fast_path(self, x, 2):
            return max_pool_2x(x, 2)
        return super().forward(x)


class MaxPool1d(layer.MaxPool1d):
    """:class:`spikingjelly.activation_based.layer.MaxPool1d`; without gradients, :func:`max_pool_2x`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _takes_fast_path(self, x, 1):
            return max_pool_2x(x, 1)
        return super().forward(x)
