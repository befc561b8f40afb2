"""Neuron factory: LIF neurons from SpikingJelly 2, or ReLU for the ANN twin."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn
from spikingjelly.activation_based import neuron, surrogate

from snnkd.core.config import NeuronConfig
from snnkd.core.registry import Registry
from snnkd.models.fused_lif import FusedLIFNode

SURROGATES: Registry[Callable[[], nn.Module]] = Registry("surrogate")
SURROGATES.register("atan", surrogate.ATan)
SURROGATES.register("sigmoid", surrogate.Sigmoid)
SURROGATES.register("triangle", surrogate.PiecewiseQuadratic)  # triangular gradient


def make_neuron(cfg: NeuronConfig, ann: bool = False) -> nn.Module:
    """A multi-step LIF neuron as configured, or ``nn.ReLU`` for an ANN twin.

    Hard reset sets ``V`` to 0 after a spike; soft reset subtracts the threshold.
    ``neuron.backend: fused`` builds :class:`~snnkd.models.fused_lif.FusedLIFNode` (the same
    neuron, one fused forward and backward over T on the CPU).
    """
    if ann:
        return nn.ReLU()
    node_cls = FusedLIFNode if cfg.backend == "fused" else neuron.LIFNode
    return node_cls(
        tau=cfg.tau,
        v_threshold=cfg.v_threshold,
        v_reset=0.0 if cfg.reset == "hard" else None,
        detach_reset=cfg.detach_reset,
        surrogate_function=SURROGATES.get(cfg.surrogate, field="neuron.surrogate")(),
        step_mode="m",
    )


def spiking_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every spiking neuron layer of ``model`` by its qualified name, in forward order."""
    from spikingjelly.activation_based.neuron import BaseNode

    return {name: m for name, m in model.named_modules() if isinstance(m, BaseNode)}
