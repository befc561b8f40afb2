"""The exported integer layer: integer weights only, ``y = s * op(x, q) + b_f``.

:class:`IntegerLayer` replaces a :class:`~snnkd.quant.lsq.QuantLayer` in the
network :func:`snnkd.quant.transform.export_integer` returns: the codes ``q`` as
an int8 (``b <= 8``) or int16 buffer, the per-channel step ``s`` and the folded
bias ``b_f``, with no float weight. The quantized layer's evaluation forward
computes the same expression, so the predictions agree exactly.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.func import functional_call

from snnkd.quant.common import constant_over_time, expand_steps
from snnkd.quant.lsq import QuantLayer


class IntegerLayer(nn.Module):
    """Exported layer: integer weights ``q`` (int8/int16 buffer), ``y = s * op(x, q) + b_f``.

    The float weight of the wrapped layer is removed; only ``weight_int``,
    the per-channel ``scale`` and the folded ``bias`` are stored.
    """

    def __init__(self, quant_layer: QuantLayer) -> None:
        super().__init__()
        q, s, b = quant_layer.integer_weights()
        self.layer = copy.deepcopy(quant_layer.layer)
        self.layer.weight = None
        self.layer.bias = None
        self.linear = isinstance(self.layer, nn.Linear)
        self.bits, self.scheme = quant_layer.bits, quant_layer.scheme  # for the deployed footprint
        self.register_buffer("weight_int", q)
        self.register_buffer("scale", s)
        self.register_buffer("bias", b)

    def mint_step(self) -> torch.Tensor:
        """The shared step ``d`` of a ``mint`` layer (its scale is the same for every channel)."""
        return self.scale[0]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if constant_over_time(x_seq):
            return expand_steps(self(x_seq[:1]), x_seq.shape[0])
        q = self.weight_int.to(x_seq.dtype)
        y = functional_call(self.layer, {"weight": q, "bias": None}, (x_seq,))
        shape = (-1,) if self.linear else (-1, *([1] * (q.dim() - 2)))
        y = y * self.scale.view(shape)
        return y if self.bias is None else y + self.bias.view(shape)
