"""Evaluation: accuracy, activity, and operations/energy from SpikingJelly's ``op_counter``.

Definitions (``shared/METHODS.md``): spikes per sample ``sum_l sum_t ||s_{l,t}||_1``
over every spiking layer (the output layer too when it spikes), averaged over
samples; firing rate = spikes per sample / (T * sum_l N_l), also per layer.
Synaptic operations, MACs and energy come from
``spikingjelly.activation_based.op_counter.estimate_simple_energy`` (45 nm
Horowitz constants); ``energy_pj = E_MAC * MACs + E_AC * SynOps`` uses that
report's constants, which are recorded next to the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snnkd.data.registry import Split
from snnkd.models.neurons import spiking_layers

Encode = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, encode: Encode, batch_size: int, device) -> float:
    """Top-1 accuracy of ``model`` on ``split``."""
    model.eval()
    correct = 0
    for start in range(0, len(split), batch_size):
        x = split.x[start : start + batch_size].to(device)
        y = split.y[start : start + batch_size].to(device)
        logits = model.logits(model(encode(x)))
        correct += int((logits.argmax(1) == y).sum())
        functional.reset_net(model)
    return correct / max(1, len(split))


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, encode: Encode, batch_size: int, device) -> dict[str, Any]:
    """Accuracy, activity per layer and latency per sample on ``split``."""
    model.eval()
    layers = spiking_layers(model)
    totals = {name: 0.0 for name in layers}
    sizes: dict[str, int] = {}
    steps = 0

    def counter(name: str):
        def hook(mod, inputs, output):
            nonlocal steps
            totals[name] += float(output.sum())
            sizes[name] = output[0, 0].numel()
            steps = output.shape[0]

        return hook

    handles = [m.register_forward_hook(counter(n)) for n, m in layers.items()]
    correct, elapsed = 0, 0.0
    try:
        for start in range(0, len(split), batch_size):
            x = split.x[start : start + batch_size].to(device)
            y = split.y[start : start + batch_size].to(device)
            t0 = time.perf_counter()
            logits = model.logits(model(encode(x)))
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed += time.perf_counter() - t0
            correct += int((logits.argmax(1) == y).sum())
            functional.reset_net(model)
    finally:
        for h in handles:
            h.remove()
    n = max(1, len(split))
    result: dict[str, Any] = {
        "accuracy": correct / n,
        "latency_ms_per_sample": 1e3 * elapsed / n,
    }
    if layers:
        spikes = {name: totals[name] / n for name in layers}
        neurons = sum(sizes.values())
        result.update(
            spikes_per_sample=sum(spikes.values()),
            firing_rate=sum(spikes.values()) / (steps * neurons),
            neurons=neurons,
            firing_rate_per_layer={name: spikes[name] / (steps * sizes[name]) for name in layers},
        )
    return result


def operations(model: nn.Module, x_seq: torch.Tensor, cost_preset: str = "fp32") -> dict[str, Any]:
    """SynOps, MACs, ACs and energy per sample from SpikingJelly's simple energy model.

    ``cost_preset`` is one of SpikingJelly's ``SimpleEnergyCostConfig`` presets
    (``fp32``, ``fp16``, ``int8``).
    """
    from spikingjelly.activation_based.op_counter import (
        SimpleEnergyConfig,
        SimpleEnergyCostConfig,
        estimate_simple_energy,
    )

    model.eval()
    functional.reset_net(model)
    # A contiguous copy: the encoding layer is counted at every step, as in the literature,
    # even though SpikingNet computes it once for direct-encoded input.
    x_seq = x_seq.contiguous()
    costs = getattr(SimpleEnergyCostConfig, cost_preset)()
    report = estimate_simple_energy(model, x_seq, config=SimpleEnergyConfig(cost_config=costs))
    functional.reset_net(model)
    b = x_seq.shape[1]
    c = report.counts
    synops, macs, acs = c["synop"] / b, c["mac"] / b, c["ac"] / b
    return {
        "synops": synops,
        "macs": macs,
        "acs": acs,
        "energy_pj": costs.e_mac_pj * macs + costs.e_ac_pj * synops,
        "energy_compute_pj": report.energy_compute_pj / b,
        "energy_total_pj": report.energy_total_pj / b,
        "energy_model": {
            "source": "spikingjelly.activation_based.op_counter.estimate_simple_energy",
            "model_id": report.model_info.model_id,
            "technology_nm": report.model_info.technology_nm,
            "preset": cost_preset,
            "e_mac_pj": costs.e_mac_pj,
            "e_ac_pj": costs.e_ac_pj,
            "e_memory_pj_per_byte": costs.e_memory_pj_per_byte,
            "formula": "energy_pj = e_mac_pj * macs + e_ac_pj * synops",
            "samples": b,
        },
    }


def model_size(model: nn.Module, bits: int = 32) -> dict[str, Any]:
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "weight_bits": bits, "model_size_bits": params * bits}
