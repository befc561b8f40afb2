"""Size and hardware figures of a student (any run): bits to store it, SpikeSim energy and cycles, crossbars.

Kept at 32 bits in a quantized student: the (direct-encoded) input of the first
layer, the folded biases and the per-channel steps; :func:`model_size_bits`
counts them. Hardware figures come from SpikingJelly 2's
``spikingjelly.activation_based.op_counter.spikesim`` (:func:`spikesim_figures`);
the crossbar count is the suite's own area proxy (:func:`crossbar_count`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snnkd.quant.transform import full_precision_copy, is_quantized, quant_layers


def model_size_bits(model: nn.Module) -> int:
    """Bits to store the network for inference.

    Quantized: ``sum_layers (N_w * b + S * 32)`` (integer weights, a 32-bit
    step per channel, ``S = C_out``, or per layer with ``mint``, ``S = 1``)
    ``+ 32 *`` every other parameter and folded bias.
    Full precision: ``32 *`` number of parameters.
    """
    layers = quant_layers(model)
    if not layers:
        return 32 * sum(p.numel() for p in model.parameters())
    inside = {id(p) for m in layers.values() for p in m.parameters()}
    bits = 0
    for m in layers.values():
        bits += m.weight.numel() * m.bits + 32 * m.log_step.numel()  # codes + steps
        if m.bias is not None or m.bn is not None:
            bits += 32 * m.out_channels  # folded bias
    bits += 32 * sum(p.numel() for p in model.parameters() if id(p) not in inside)
    return bits


def crossbar_count(model: nn.Module, x_seq: torch.Tensor, weight_bits: int, xbar: int = 64) -> int:
    """Suite-defined area proxy: crossbars needed to map every convolution.

    Weight-stationary mapping as in SpikeSim (Moitra et al., TCAD 2023) with
    one bit per cell: ``sum_l ceil(k_h k_w C_in / X) * ceil(C_out * b / X)``.
    SpikingJelly's ``spikesim`` package models energy only, so this count is
    the suite's own proxy for area, not a SpikeSim output.
    """
    total = 0
    for stage in _conv_stages(model, x_seq):
        k = math.prod(stage["kernel_size"])
        total += math.ceil(k * stage["in_channels"] / xbar) * math.ceil(
            stage["out_channels"] * weight_bits / xbar
        )
    return total


def _spikesim_report(model: nn.Module, x_seq: torch.Tensor, mode: str):
    from spikingjelly.activation_based.op_counter.spikesim import (
        SpikeSimEnergyConfig,
        estimate_spikesim_energy,
    )

    model.eval()
    functional.reset_net(model)
    report = estimate_spikesim_energy(
        model, x_seq, config=SpikeSimEnergyConfig(activity_mode=mode), strict=False
    )
    functional.reset_net(model)
    return report


def _conv_stages(model: nn.Module, x_seq: torch.Tensor) -> list[dict[str, Any]]:
    return list(_spikesim_report(model, x_seq, "dense").stage_metadata.values())


def spikesim_figures(model: nn.Module, x_seq: torch.Tensor, weight_bits: int) -> dict[str, Any]:
    """SpikeSim energy per sample (dense and event-driven) from SpikingJelly 2's
    ``op_counter.spikesim``, its PE-cycle count, and the suite's crossbar-count area proxy.

    SpikingJelly's SpikeSim model covers 2-D convolution stages only, has no
    bit-width parameter and reports neither delay nor area; the PE-cycle count
    stands in for delay and :func:`crossbar_count` for area.
    """
    b = x_seq.shape[1]
    dense = _spikesim_report(model, x_seq, "dense")
    event = _spikesim_report(model, x_seq, "event")
    if not dense.stage_metadata:
        return {"spikesim_stages": 0}
    return {
        "spikesim_energy_pj": event.energy_total_pj / b,
        "spikesim_dense_energy_pj": dense.energy_total_pj / b,
        "spikesim_pe_cycles": dense.counts["dense_pe_cycle_count"] / b,
        "spikesim_stages": len(dense.stage_metadata),
        "xbar_count": crossbar_count(model, x_seq, weight_bits),
        "spikesim_model": dense.model_info.model_id,
    }


def quant_metrics(model: nn.Module, x_seq: torch.Tensor) -> dict[str, Any]:
    """Bit widths, model size in bits and hardware figures of a student (any run).

    For a quantized student the same figures of its full-precision copy
    (:func:`~snnkd.quant.transform.full_precision_copy`) are added with the prefix ``fp_``, and the
    ratio ``edap_ratio = (E * cycles * xbars)_fp / (E * cycles * xbars)_quant``.
    """
    wb = int(getattr(model, "weight_bits", 32))
    out: dict[str, Any] = {
        "weight_bits": wb,
        "membrane_bits": int(getattr(model, "membrane_bits", 32)),
        "model_size_bits": model_size_bits(model),
        **spikesim_figures(model, x_seq, wb),
    }
    if is_quantized(model):
        fp = full_precision_copy(model)
        fp_fig = spikesim_figures(fp, x_seq, 32)
        out.update({f"fp_{k}": v for k, v in fp_fig.items()})
        out["fp_model_size_bits"] = 32 * sum(p.numel() for p in fp.parameters())
        if "spikesim_energy_pj" in fp_fig and out.get("spikesim_energy_pj"):
            edap = out["spikesim_energy_pj"] * out["spikesim_pe_cycles"] * out["xbar_count"]
            fp_edap = fp_fig["spikesim_energy_pj"] * fp_fig["spikesim_pe_cycles"] * fp_fig["xbar_count"]
            out["edap_ratio"] = fp_edap / edap
    return out
