"""The ``mint`` scheme: weights and membrane on one learned grid per layer, after MINT.

MINT (Yin et al., "MINT: Multiplier-less INTeger Quantization for Energy Efficient
Spiking Neural Networks", ASP-DAC 2024; ``quant.scheme: mint``, the default is
``lsq``, :mod:`snnkd.quant.lsq`): one learned step ``d = alpha / Q`` per layer
(not per channel), shared by the layer's weights and the membrane potential of
the neuron layer it feeds, both passed through ``tanh`` and clamped to
``[-alpha, alpha]``, rounded symmetrically (``2^b - 1`` levels)::

    q_w = round(clamp(tanh(W_f) / d, -Q, Q))                      (mint_codes)
    H_t = U_{t-1} + X_t / tau,  S_t = Theta(H_t - V_th),  V_t = reset(H_t, S_t)
    U_t = d * round(clamp(tanh(V_t - (V_t - V_reset) / tau) / d, -Q, Q))

The membrane is quantized after leak and reset (:class:`MintLIFNode`); without
quantization these are the LIF dynamics. Weights and membrane on one grid are
what lets MINT's hardware accumulate without a multiplier. The step starts as
LSQ's (``2 mean|tanh W_f| / sqrt(Q)``; MINT's code starts its ``alpha`` there
instead) and is learned through both uses. A residual block's neuron shares the
step of the main path's last layer (MINT's ResNet does the same), see
:func:`link_mint_neurons`. ``mint`` needs ``b, b_u >= 2``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron

from snnkd.quant.common import mint_codes
from snnkd.quant.integer import IntegerLayer
from snnkd.quant.lsq import QuantLayer, QuantLIFNode


class MintLIFNode(QuantLIFNode):
    """LIF neuron quantized as in MINT: the membrane after leak and reset, on its layer's grid.

    ``H_t = U_{t-1} + X_t / tau`` (``U_{t-1} + X_t`` without decayed input),
    ``S_t = Theta(H_t - V_th)``, ``V_t`` = hard or soft reset of ``H_t``, and the
    stored state ``U_t = d * mint_codes(V_t - (V_t - V_reset) / tau, d, b_u)``:
    leaked, then quantized with the step ``d`` of the weight layer that feeds
    it (linked by :func:`link_mint_neurons`). Unquantized, this is the LIF
    neuron of :class:`~snnkd.quant.lsq.QuantLIFNode` with the leak moved after the reset.
    ``membrane_range`` is not used. ``H_t`` of the last forward is kept for
    :func:`snnkd.methods.trace.membrane_before_fire`.
    """

    FUSABLE = False  # its learned step is not part of the fused neuron: the per-step loop runs

    def __init__(self, membrane_bits: int, membrane_range: float, fused: bool = False, **kwargs: Any) -> None:
        super().__init__(membrane_bits, membrane_range, fused, **kwargs)
        self._source: list[nn.Module] = []  # a list: the layer is not registered twice

    def link(self, layer: nn.Module) -> None:
        """Share the step of ``layer``: a ``mint`` :class:`~snnkd.quant.lsq.QuantLayer`, or the
        :class:`~snnkd.quant.integer.IntegerLayer` exported from one."""
        self._source = [layer]

    def step(self) -> torch.Tensor:
        if not self._source:
            raise RuntimeError("MintLIFNode: not linked to a weight layer (see link_mint_neurons)")
        return self._source[0].mint_step()

    def leak_and_quantize(self, v: torch.Tensor) -> torch.Tensor:
        """``U = d * round(clamp(tanh(V - (V - V_reset) / tau) / d, -Q, Q))``."""
        v_reset = self.v_reset if self.v_reset is not None else 0.0
        d = self.step()
        return d * mint_codes(v - (v - v_reset) / self.tau, d, self.membrane_bits)

    def _step(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = u + x / self.tau if self.decay_input else u + x
        spike = self.surrogate_function(h - self.v_threshold)
        s = spike.detach() if self.detach_reset else spike
        v = h - s * self.v_threshold if self.v_reset is None else h * (1.0 - s) + s * self.v_reset
        return spike, self.leak_and_quantize(v), h

    def extra_repr(self) -> str:
        return f"{neuron.LIFNode.extra_repr(self)}, membrane_bits={self.membrane_bits}, scheme=mint"


def link_mint_neurons(model: nn.Module) -> None:
    """Link every :class:`MintLIFNode` to the weight layer whose step it shares.

    That is the last ``mint`` weight layer before it in module order, layers
    inside a ``shortcut`` excluded: a residual block's neuron takes the step of
    its main path's last layer, whose output the shortcut's is added to.
    """
    last: nn.Module | None = None
    for name, m in model.named_modules():
        if isinstance(m, QuantLayer | IntegerLayer) and "shortcut" not in name.split("."):
            last = m
        elif isinstance(m, MintLIFNode):
            if last is None:
                raise ValueError(f"quant.scheme mint: neuron '{name}' has no weight layer before it")
            m.link(last)
