"""Whole-network conversions: quantize a full-precision network, export it to integers, or back to FP.

What :func:`quantize_model` (``Method.transform`` of ``quant`` and ``md-snn``) does
to a full-precision network, in place (module names are kept, so a quantized
student aligns layer by layer with its FP twin): every convolution or linear
layer, with the batch norm that follows it folded in, becomes a
:class:`~snnkd.quant.lsq.QuantLayer`; a batch norm with no layer before it a
:class:`~snnkd.quant.lsq.QuantBatchNorm`; every LIF neuron a
:class:`~snnkd.quant.lsq.QuantLIFNode` (:class:`~snnkd.quant.mint.MintLIFNode`
with ``quant.scheme: mint``). :func:`export_integer` replaces every quantized
layer by its :class:`~snnkd.quant.integer.IntegerLayer`; :func:`full_precision_copy`
by its folded full-precision layer, with full-precision neurons.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, neuron

from snnkd.quant.common import check_bits
from snnkd.quant.integer import IntegerLayer
from snnkd.quant.lsq import QuantBatchNorm, QuantLayer, QuantLIFNode, lif_settings
from snnkd.quant.mint import MintLIFNode, link_mint_neurons

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fold_and_quantize(
    module: nn.Module, weight_bits: int, membrane_bits: int, membrane_range: float, scheme: str = "lsq"
) -> None:
    """In place: conv/linear (+ following BN) -> :class:`~snnkd.quant.lsq.QuantLayer`,
    LIF -> :class:`~snnkd.quant.lsq.QuantLIFNode` (:class:`~snnkd.quant.mint.MintLIFNode` with
    ``scheme="mint"``, linked afterwards by :func:`~snnkd.quant.mint.link_mint_neurons`).

    A BN is folded into the layer just before it among its parent's children
    (the order in which data flows through every built-in architecture).
    """
    node_cls = MintLIFNode if scheme == "mint" else QuantLIFNode
    children = list(module.named_children())
    skip: set[str] = set()
    for i, (name, child) in enumerate(children):
        if name in skip:
            continue
        if isinstance(child, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
            bn = None
            if i + 1 < len(children) and isinstance(children[i + 1][1], _BN):
                nxt_name, nxt = children[i + 1]
                if nxt.num_features == child.weight.shape[0]:
                    bn = nxt
                    skip.add(nxt_name)
                    setattr(module, nxt_name, nn.Identity())
            setattr(module, name, QuantLayer(child, bn, weight_bits, scheme))
        elif isinstance(child, _BN):
            setattr(module, name, QuantBatchNorm(child, weight_bits))
        elif isinstance(child, neuron.LIFNode) and not isinstance(child, QuantLIFNode):
            setattr(module, name, node_cls.from_lif(child, membrane_bits, membrane_range))
        elif isinstance(child, neuron.BaseNode):
            raise ValueError(
                f"quantize_model: no quantized version of neuron {type(child).__name__} ('{name}')"
            )
        else:
            fold_and_quantize(child, weight_bits, membrane_bits, membrane_range, scheme)


def quantize_model(model: nn.Module, cfg: Any) -> nn.Module:
    """The ``Method.transform`` of ``quant`` and ``md-snn``: quantize ``model`` per ``cfg.quant``.

    Sets ``model.weight_bits`` and ``model.membrane_bits``. An ANN twin has no
    membrane; its ReLUs are left as they are.
    """
    q = cfg.quant
    check_bits(q.weight_bits, "quant.weight_bits")
    check_bits(q.membrane_bits, "quant.membrane_bits")
    scheme = getattr(q, "scheme", "lsq")
    if scheme == "mint":
        from snnkd.errors import ConfigError

        for field in ("weight_bits", "membrane_bits"):
            if getattr(q, field) < 2:
                raise ConfigError(
                    f"quant.{field}: scheme 'mint' rounds symmetrically onto 2^b - 1 levels; "
                    f"expected an integer in 2..16, got {getattr(q, field)}"
                )
    fold_and_quantize(model, q.weight_bits, q.membrane_bits, q.membrane_range, scheme)
    if scheme == "mint":
        link_mint_neurons(model)
    model.weight_bits = q.weight_bits
    model.membrane_bits = q.membrane_bits
    model.membrane_range = q.membrane_range
    model.quant_scheme = scheme
    return model


def quant_layers(model: nn.Module) -> dict[str, QuantLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantLayer)}


def is_quantized(model: nn.Module) -> bool:
    return bool(quant_layers(model))


def export_integer(model: nn.Module) -> nn.Module:
    """A copy for inference in which every :class:`QuantLayer` holds integer weights only.

    ``y = s * op(x, q) + b_f`` with ``q`` stored as int8 (``b <= 8``) or int16;
    the evaluation forward of the quantized model computes the same expression,
    so the predictions agree exactly. The copy is in evaluation mode.
    """
    functional.reset_net(model)
    out = copy.deepcopy(model).eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, QuantLayer):
                setattr(parent, name, IntegerLayer(child))
            else:
                swap(child)

    swap(out)
    link_mint_neurons(out)  # mint neurons now read their step from the integer layers
    return out


def full_precision_copy(model: nn.Module) -> nn.Module:
    """The same trained network run at full precision: folded FP weights, FP membrane.

    Used for the full-precision side of the hardware comparison inside a quantized run.
    """
    functional.reset_net(model)
    out = copy.deepcopy(model).eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, QuantLayer):
                with torch.no_grad():
                    w_f, b_f = child.folded()
                fp = child.layer
                fp.weight = nn.Parameter(w_f.detach().clone())
                fp.bias = None if b_f is None else nn.Parameter(b_f.detach().clone())
                setattr(parent, name, fp)
            elif isinstance(child, QuantLIFNode):
                setattr(
                    parent,
                    name,
                    neuron.LIFNode(**lif_settings(child), step_mode="m"),
                )
            else:
                swap(child)

    swap(out)
    for attr in ("weight_bits", "membrane_bits"):
        if hasattr(out, attr):
            setattr(out, attr, 32)
    return out
