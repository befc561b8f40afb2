"""Evaluation: accuracy, activity, operations and energy, in one pass over the same samples.

Definitions (``shared/METHODS.md``): spikes per sample ``sum_l sum_t ||s_{l,t}||_1``
over every spiking layer (the output layer too when it spikes), averaged over
samples; firing rate = spikes per sample / (T * sum_l N_l), also per layer.
SynOps (NeuroBench's ``Effective_ACs``) and MACs of the network with batch norm
folded are counted by :mod:`snnkd.evaluation.neurobench_metrics`, which also gives the
NeuroBench block; ``energy_pj = E_MAC * MACs + E_AC * SynOps`` uses SpikingJelly's
45 nm Horowitz constants (``SimpleEnergyCostConfig``), recorded next to the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional

from snnkd.data.registry import Split

Encode = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def accuracy(model: nn.Module, split: Split, encode: Encode, batch_size: int, device) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (under ``torch.inference_mode``: the per-epoch validation)."""
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
def evaluate(
    model: nn.Module, split: Split, encode: Encode, batch_size: int, device, cost_preset: str = "fp32"
) -> dict[str, Any]:
    """Accuracy, activity, operations, energy and the ``neurobench`` block on ``split``, in one pass.

    Every figure comes from the same samples and the same encoded inputs
    (:class:`snnkd.evaluation.neurobench_metrics.Counter`); the latency per sample times the
    forward passes only. Inputs are made contiguous so that layers before the first
    neuron run (and are counted) at each of the T steps, as on hardware.
    """
    from snnkd.evaluation.neurobench_metrics import Counter

    model.eval()
    elapsed = 0.0
    with Counter(model) as counter:
        for start in range(0, len(split), batch_size):
            x = split.x[start : start + batch_size].to(device)
            y = split.y[start : start + batch_size].to(device)
            x_seq = encode(x).contiguous()
            t0 = time.perf_counter()
            logits = model.logits(model(x_seq))
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed += time.perf_counter() - t0
            counter.flush(len(x), int((logits.argmax(1) == y).sum()))
            functional.reset_net(model)
        result = counter.result()
    result["latency_ms_per_sample"] = 1e3 * elapsed / max(1, len(split))
    result.update(energy(result["macs"], result["synops"], cost_preset))
    return result


@torch.no_grad()
def operations(model: nn.Module, x_seq: torch.Tensor, cost_preset: str = "fp32") -> dict[str, Any]:
    """SynOps, MACs (batch norm folded) and energy per sample of one batch ``x_seq`` ``[T, B, ...]``."""
    from snnkd.evaluation.neurobench_metrics import Counter

    model.eval()
    functional.reset_net(model)
    with Counter(model) as counter:
        model(x_seq.contiguous())
        counter.flush(x_seq.shape[1])
        counts = counter.result()
    functional.reset_net(model)
    return {
        "synops": counts["synops"],
        "macs": counts["macs"],
        **energy(counts["macs"], counts["synops"], cost_preset),
    }


def energy(macs: float, synops: float, cost_preset: str = "fp32") -> dict[str, Any]:
    """``energy_pj = E_MAC * macs + E_AC * synops`` with SpikingJelly's 45 nm Horowitz constants.

    ``cost_preset`` is one of SpikingJelly's ``SimpleEnergyCostConfig`` presets
    (``fp32``, ``fp16``, ``int8``).
    """
    from spikingjelly.activation_based.op_counter import SimpleEnergyCostConfig

    costs = getattr(SimpleEnergyCostConfig, cost_preset)()
    return {
        "energy_pj": costs.e_mac_pj * macs + costs.e_ac_pj * synops,
        "energy_model": {
            "source": "spikingjelly.activation_based.op_counter.SimpleEnergyCostConfig (45 nm, Horowitz)",
            "preset": cost_preset,
            "e_mac_pj": costs.e_mac_pj,
            "e_ac_pj": costs.e_ac_pj,
            "formula": "energy_pj = e_mac_pj * macs + e_ac_pj * synops (batch norm folded)",
        },
    }


def model_size(model: nn.Module, bits: int = 32) -> dict[str, Any]:
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "weight_bits": bits, "model_size_bits": params * bits}
