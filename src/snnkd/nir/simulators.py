"""Run an exported NIR graph (:mod:`snnkd.nir.export`) in SpikingJelly, snnTorch or Norse.

Each framework's own importer builds the network (SpikingJelly 2's
``nir_exchange.import_from_nir``, snnTorch 1.0's ``import_nir.import_from_nir``,
Norse 1.1's ``norse.torch.from_nir``, all at the step :data:`snnkd.nir.export.DT`);
the network is then run one step at a time over ``x_seq`` ``[T, B, ...]``,
carrying the state the importer returns. Each runner gives the per-step outputs
``[T, B, C]`` and the spikes of every LIF node of the graph (summed over steps,
samples and neurons), read from the framework's neuron modules.

A quantized student's LIF nodes carry their membrane grid in metadata
(:func:`snnkd.nir.export.lif_node`), which NIR cannot express:
:func:`run_spikingjelly` applies it (a :class:`~snnkd.quant.QuantLIFNode` in
place of the imported neuron), :func:`run_snntorch` through snnTorch's own
``state_quant`` hook of its ``Leaky`` neuron; Norse's ``LIFBoxCell`` has none,
so Norse runs a quantized graph with a float membrane.

:func:`limits` tells, per framework, the first node of a graph its importer
cannot read (Norse 1.1 maps no ``Conv1d`` and no ``AvgPool2d``; snnTorch 1.0
no ``Conv1d``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
import torch.nn as nn

from snnkd.nir.export import DT

FRAMEWORKS = ("spikingjelly", "snntorch", "norse")
#: NIR node types each importer maps (its own table, or nirtorch's defaults it falls back on)
_READS = {
    "spikingjelly": ("Affine", "Linear", "Conv1d", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "LIF"),
    "snntorch": ("Affine", "Linear", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "LIF"),
    "norse": ("Affine", "Linear", "Conv2d", "SumPool2d", "Flatten", "LIF"),
}


#: frameworks whose imported LIF neuron has no hook for a quantized membrane
_FLOAT_MEMBRANE_ONLY = ("norse",)


def limits(graph: Any) -> dict[str, str | None]:
    """Per framework: ``None`` when it runs the graph as exported, else its first node it cannot
    read, or the first quantized LIF node whose membrane grid it cannot apply."""
    out: dict[str, str | None] = {}
    for fw, reads in _READS.items():
        bad = [
            f"node '{n}' ({type(node).__name__}): {fw}'s NIR import maps no {type(node).__name__}"
            for n, node in graph.nodes.items()
            if type(node).__name__ not in (*reads, "Input", "Output")
        ]
        if fw in _FLOAT_MEMBRANE_ONLY:
            bad += [
                f"node '{n}' (LIF, {node.metadata['membrane_bits']}-bit membrane): {fw}'s LIF has no "
                "membrane quantization, so it runs the membrane in float and its predictions may differ"
                for n, node in graph.nodes.items()
                if type(node).__name__ == "LIF" and "membrane_bits" in (getattr(node, "metadata", None) or {})
            ]
        out[fw] = bad[0] if bad else None
    return out


def _lif_names(graph: Any) -> list[str]:
    import nir

    return [n for n, node in graph.nodes.items() if isinstance(node, nir.LIF)]


def _count(spikes: dict[str, float], name: str):
    def hook(mod, inputs, output):
        z = output[0] if isinstance(output, tuple) else output
        spikes[name] += float(z.sum())

    return hook


@torch.no_grad()
def _run_steps(net: nn.Module, x_seq: torch.Tensor) -> torch.Tensor:
    outs, state = [], None
    for t in range(x_seq.shape[0]):
        out, state = net(x_seq[t], state)
        outs.append(out)
    return torch.stack(outs)


def _hooked(net: nn.Module, names: list[str], x_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Run ``net`` step by step, counting the spikes of the modules the importer made of LIF nodes."""
    spikes: dict[str, float] = defaultdict(float)
    handles = [net.get_submodule(n).register_forward_hook(_count(spikes, n)) for n in names]
    try:
        out = _run_steps(net, x_seq)
    finally:
        for h in handles:
            h.remove()
    return out, {n: spikes[n] for n in names}


class _StatefulNeuron(nn.Module):
    """A single-step SpikingJelly neuron in nirtorch's ``(x, state) -> (spikes, state)`` protocol."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.neuron = neuron

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        self.neuron.reset()
        if state is not None:
            self.neuron.v = state
        spikes = self.neuron(x)
        return spikes, self.neuron.v


def _quant_neuron(node: Any) -> nn.Module:
    """The :class:`~snnkd.quant.QuantLIFNode` a quantized LIF node describes (:mod:`snnkd.nir.export`)."""
    import numpy as np

    from snnkd.quant import QuantLIFNode

    tau = float(np.unique(node.tau)[0]) / DT
    return QuantLIFNode(
        int(node.metadata["membrane_bits"]),
        float(node.metadata["membrane_range"]),
        tau=tau,
        decay_input=bool(np.allclose(node.r, 1.0)),
        v_threshold=float(node.metadata["v_threshold_trained"]),
        v_reset=float(np.unique(node.v_reset)[0]),
        step_mode="s",
    )


def run_spikingjelly(graph: Any, x_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """SpikingJelly's import of ``graph``, quantized membranes applied from the nodes' metadata."""
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    net = import_from_nir(graph, dt=DT, step_mode="s")
    for name in _lif_names(graph):
        if "membrane_bits" in graph.nodes[name].metadata:
            setattr(net, name, _StatefulNeuron(_quant_neuron(graph.nodes[name])))
    return _hooked(net, _lif_names(graph), x_seq)


def _snntorch_quantizer(node: Any, tau: float):
    """snnTorch's ``Leaky`` keeps ``tau`` times SpikingJelly's potential: quantize ``mem / tau``."""
    from snnkd.quant import quantize_membrane

    bits, r = int(node.metadata["membrane_bits"]), float(node.metadata["membrane_range"])
    return lambda mem: tau * quantize_membrane(mem / tau, bits, r)


def run_snntorch(graph: Any, x_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """snnTorch 1.0's import of ``graph`` (``Leaky`` neurons; a quantized membrane via ``state_quant``)."""
    import contextlib
    import io

    import numpy as np
    from snntorch.import_nir import import_from_nir
    from snntorch.utils import reset

    with contextlib.redirect_stdout(io.StringIO()):  # its importer prints a warning per LIF node
        net = import_from_nir(graph)
    for name in _lif_names(graph):
        node = graph.nodes[name]
        if "membrane_bits" in node.metadata:
            tau = float(np.unique(node.tau)[0]) / DT
            net.get_submodule(name).state_quant = _snntorch_quantizer(node, tau)
    reset(net)
    return _hooked(net, _lif_names(graph), x_seq)


def run_norse(graph: Any, x_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Norse 1.1's import of ``graph`` (``LIFBoxCell`` neurons; float membranes only)."""
    from norse.torch import from_nir

    net = from_nir(graph, dt=DT)
    return _hooked(net, _lif_names(graph), x_seq)


RUNNERS = {"spikingjelly": run_spikingjelly, "snntorch": run_snntorch, "norse": run_norse}
