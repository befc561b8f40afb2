"""Quantization-aware training of SNN students: weights, membrane potential, batch norm.

One module per job:

* :mod:`snnkd.quant.common`: bit widths, the integer codes of weights
  (``q = round(clamp(W_f / s, -Q, Q))``, ``Q = 2^(b-1) - 1``), the membrane grid
  (``Q_u(h) = d * round(clamp(h / d, -2^(b_u-1), 2^(b_u-1) - 1))``,
  ``d = r / 2^(b_u-1)``), batch-norm running statistics;
* :mod:`snnkd.quant.lsq`: the ``lsq`` scheme (Esser et al., ICLR 2020): batch norm
  folded into the weights (Jacob et al., CVPR 2018), a learned step per output
  channel, the membrane quantized before fire and reset (MD-SNN, Lee et al.,
  DATE 2026);
* :mod:`snnkd.quant.mint`: the ``mint`` scheme (Yin et al., ASP-DAC 2024): one
  learned step per layer shared by its weights and the membrane of the neurons it feeds;
* :mod:`snnkd.quant.integer`: the exported integer layer, ``y = s * op(x, q) + b_f``;
* :mod:`snnkd.quant.transform`: whole-network conversions: :func:`quantize_model`
  (``Method.transform`` of ``quant`` and ``md-snn``), :func:`export_integer`,
  :func:`full_precision_copy`;
* :mod:`snnkd.quant.hardware`: size in bits, SpikeSim energy and cycles, crossbar
  count, and :func:`quant_metrics` (every run's hardware block).

The names below are the package's public API: ``from snnkd.quant import X``.
"""

from snnkd.quant.common import (
    check_bits,
    membrane_step,
    mint_codes,
    quantize_membrane,
    quantize_weight,
    update_running_stats,
    weight_codes,
    weight_qmax,
)
from snnkd.quant.hardware import crossbar_count, model_size_bits, quant_metrics, spikesim_figures
from snnkd.quant.integer import IntegerLayer
from snnkd.quant.lsq import QuantBatchNorm, QuantLayer, QuantLIFNode, lif_settings
from snnkd.quant.mint import MintLIFNode, link_mint_neurons
from snnkd.quant.transform import (
    export_integer,
    fold_and_quantize,
    full_precision_copy,
    is_quantized,
    quant_layers,
    quantize_model,
)

__all__ = [
    "IntegerLayer",
    "MintLIFNode",
    "QuantBatchNorm",
    "QuantLIFNode",
    "QuantLayer",
    "check_bits",
    "crossbar_count",
    "export_integer",
    "fold_and_quantize",
    "full_precision_copy",
    "is_quantized",
    "lif_settings",
    "link_mint_neurons",
    "membrane_step",
    "mint_codes",
    "model_size_bits",
    "quant_layers",
    "quant_metrics",
    "quantize_membrane",
    "quantize_model",
    "quantize_weight",
    "spikesim_figures",
    "update_running_stats",
    "weight_codes",
    "weight_qmax",
]
