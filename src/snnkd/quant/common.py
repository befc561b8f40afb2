"""What every quantization scheme shares: bit widths, integer codes, the membrane grid, batch-norm statistics.

Weights are rounded onto the symmetric grid of ``b`` bits (``2^b - 1`` levels), or
to two levels at one bit, with a straight-through estimator::

    q = round(clamp(v, -Q, Q)),  Q = 2^(b-1) - 1     (b >= 2)
    q = sign(v) in {-1, +1}                           (b = 1)

``v`` is ``W_f / s`` for LSQ (:func:`weight_codes`) and ``tanh(v) / d`` for MINT
(:func:`mint_codes`). The membrane potential is rounded onto the two's-complement
grid of ``b_u`` bits in ``[-r, r)`` (``2^b_u`` levels, zero included;
straight-through inside the clamp range)::

    Q_u(h) = d * round(clamp(h / d, -2^(b_u-1), 2^(b_u-1) - 1)),  d = r / 2^(b_u-1)

SpikingJelly primitives used (``spikingjelly.activation_based.quantize``):
``round`` (straight-through rounding), ``clamp`` (clamp whose gradient is
masked outside the range), ``k_bit_quantize`` (the 1-bit weight case).
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
from spikingjelly.activation_based import quantize


def check_bits(bits: int, what: str = "bits") -> int:
    """A bit width in ``1..16``, else a one-line ``ConfigError``."""
    from snnkd.errors import ConfigError

    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ConfigError(f"{what}: {bits!r} is not a valid bit width; expected an integer in 1..16")
    return bits


def over_sqrt(numerator: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``numerator / sqrt(x)`` with kernels that the run's CPU policy reproduces.

    ATen hands ``torch.sqrt`` to MKL's vector maths, which is not correctly rounded (on an AMD EPYC
    8 of 32 values differ from numpy's ``sqrt``) and whose bits depend on the CPU's vendor even
    under ``MKL_CBWR=COMPATIBLE`` (``benchmarks/cpu_kernels_probe.py``). Under the ``portable``
    policy (``snnkd.trainer.threads``, the process has ``MKL_CBWR=COMPATIBLE``) this is
    ``numerator * rsqrt(x)``: ATen's own vectorised ``rsqrt``, an IEEE square root and division,
    the same bits on every x86-64 CPU. Otherwise it is ``numerator / torch.sqrt(x)``, the bits of
    the runs made under ``avx2``.
    """
    if os.environ.get("MKL_CBWR") == "COMPATIBLE":
        return numerator * torch.rsqrt(x)
    return numerator / torch.sqrt(x)


def weight_qmax(bits: int) -> int:
    """``Q = 2^(b-1) - 1`` of the symmetric weight grid (1 for the binary case)."""
    return max(1, 2 ** (bits - 1) - 1)


def weight_codes(w_over_s: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer-valued codes of ``w / s``: ``round(clamp(v, -Q, Q))``, or ``{-1, +1}`` at 1 bit.

    Straight-through: the gradient is 1 inside ``[-Q, Q]`` and 0 outside.
    """
    if bits == 1:
        unit = quantize.clamp((w_over_s + 1.0) / 2.0, 0.0, 1.0)
        return 2.0 * quantize.k_bit_quantize(unit, 1) - 1.0
    q = weight_qmax(bits)
    return quantize.round(quantize.clamp(w_over_s, -float(q), float(q)))


def quantize_weight(w: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantized weights ``s * codes(w / s)`` (``step`` broadcast per output channel)."""
    step = step.view(-1, *([1] * (w.dim() - 1)))
    return step * weight_codes(w / step, bits)


def mint_codes(v: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """MINT's integer codes ``round(clamp(tanh(v) / d, -Q, Q))`` (straight-through inside the clamp)."""
    return weight_codes(torch.tanh(v) / step, bits)


def membrane_step(bits: int, mem_range: float) -> float:
    """Grid spacing ``d = r / 2^(b_u - 1)`` of the membrane potential."""
    return mem_range / 2 ** (bits - 1)


def quantize_membrane(h: torch.Tensor, bits: int, mem_range: float) -> torch.Tensor:
    """``d * round(clamp(h / d, -2^(b-1), 2^(b-1) - 1))``: ``2^b`` levels in ``[-r, r)``."""
    d = membrane_step(bits, mem_range)
    lo, hi = -float(2 ** (bits - 1)), float(2 ** (bits - 1) - 1)
    return d * quantize.round(quantize.clamp(h / d, lo, hi))


@torch.no_grad()
def update_running_stats(bn: nn.Module, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
    """A batch norm's running statistics from one batch's ``mean`` and biased ``var`` over ``n`` values,
    as ``nn.BatchNorm`` does: ``r <- (1 - m) r + m x`` with ``m = momentum``, or the cumulative average
    (``m = 1 / batches seen``) when ``momentum`` is None (what precise-BN recalibration sets)."""
    bn.num_batches_tracked += 1
    m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    bn.running_mean.mul_(1 - m).add_(m * mean.detach())
    bn.running_var.mul_(1 - m).add_(m * var.detach() * n / max(n - 1, 1))


def constant_over_time(x_seq: torch.Tensor) -> bool:
    """An ``expand``-ed ``[T, B, ...]`` view (stride 0 over time): the same input at every step."""
    return x_seq.dim() > 2 and x_seq.shape[0] > 1 and x_seq.stride(0) == 0


def expand_steps(y: torch.Tensor, steps: int) -> torch.Tensor:
    """One step's output ``[1, B, ...]`` as the same output at each of ``steps`` steps (a view)."""
    return y.expand(steps, *y.shape[1:])
