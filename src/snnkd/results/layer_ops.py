"""Where activity goes: spikes and SynOps per spiking layer, from the network's structure.

A run stores each spiking layer's firing rate ``r_l`` (spikes / neuron / step), so its spikes
per sample are ``S_l = r_l * T * N_l`` with ``N_l`` the layer's neurons per step. Layer ``l``'s
spikes reach the connection layers (Linear, Conv) that read its output directly or through
max-pooling and flattening (which keep spikes binary). Its mean fan-out is

    F_l = sum_c D_c / M_c

over those layers ``c``, with ``D_c`` the synapses of ``c`` (NeuroBench's ``Dense`` count: every
non-padding tap at every output, for one step of one sample) and ``M_c`` the positions of its
input; the SynOps layer ``l`` causes are attributed as

    SynOps_l = S_l * F_l.

This is exact for a Linear fed directly by the layer (every spike drives all its outgoing
synapses); it is the mean over positions for a convolution (edge neurons have fewer synapses
where the kernel meets the padding); and it is an upper bound where a max-pool merges the
spikes of one window into one pooled spike, or where weights are zero (quantized codes): the
measured total ``synops`` (NeuroBench ``Effective_ACs``) of a run is at most ``sum_l SynOps_l``,
and their ratio says how much the pooling merges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from snnkd.evaluation.neurobench_metrics import CONNECTIONS, activation_types, connection_op

PASS_THROUGH = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.Flatten, nn.Identity, nn.Dropout)


@dataclass(frozen=True)
class LayerFanout:
    """A spiking layer: its neurons per step, mean synapses per neuron and the layers it drives."""

    layer: str
    neurons: int
    fan_out: float
    targets: tuple[str, ...]


@torch.no_grad()
def fanouts(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, LayerFanout]:
    """Per spiking layer of ``model`` (named as ``firing_rate_per_layer`` names it): ``N_l`` and ``F_l``.

    One forward pass of a single step of one all-ones sample ``[1, 1, *input_shape]`` traces which
    tensors carry which layer's spikes (the tensors are kept alive during the pass, so an ``id``
    is never reused); the counts depend on the shapes only.
    """
    from spikingjelly.activation_based import functional

    neurons = {n: m for n, m in model.named_modules() if isinstance(m, activation_types())}
    names = {id(m): n for n, m in model.named_modules()}
    source: dict[int, str] = {}
    alive: list[torch.Tensor] = []
    size: dict[str, int] = {}
    fan: dict[str, float] = {n: 0.0 for n in neurons}
    targets: dict[str, list[str]] = {n: [] for n in neurons}

    def hook(mod: nn.Module, inputs, output) -> None:
        x = inputs[0] if inputs else None
        alive.extend(t for t in (x, output) if isinstance(t, torch.Tensor))
        if isinstance(mod, activation_types()):
            name = names[id(mod)]
            source[id(output)] = name
            size[name] = output[0, 0].numel()
        elif isinstance(mod, PASS_THROUGH) and id(x) in source:
            source[id(output)] = source[id(x)]
        elif isinstance(mod, CONNECTIONS) and id(x) in source:
            layer = source[id(x)]
            dense = connection_op(mod, torch.ones_like(x), torch.ones_like(mod.weight)).sum()
            fan[layer] += float(dense) / x.numel()
            targets[layer].append(names[id(mod)])

    traced = (*activation_types(), *PASS_THROUGH, *CONNECTIONS)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, traced)]
    was_training = model.training
    model.eval()
    try:
        model(torch.ones(1, 1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        functional.reset_net(model)
        model.train(was_training)
    return {n: LayerFanout(n, size.get(n, 0), fan[n], tuple(targets[n])) for n in neurons if n in size}


def student_fanouts(dataset: str, model: str, config: dict) -> dict[str, LayerFanout]:
    """:func:`fanouts` of the network a run's ``run.json`` config describes (its preset, neuron, readout).

    A method's ``transform`` (quantization) keeps the layers and their shapes, so the float
    network of the same preset has the same fan-outs.
    """
    from snnkd.core.config import NeuronConfig
    from snnkd.data import DATASETS
    from snnkd.models import build_model, preset_for

    arch, kwargs = preset_for(dataset, model)
    info = DATASETS.get(dataset).info
    net = build_model(
        arch,
        info.input_shape,
        info.num_classes,
        NeuronConfig(**config.get("neuron", {})),
        ann=bool(config.get("ann", False)),
        readout=config.get("readout", "mean"),
        **kwargs,
    )
    return fanouts(net, tuple(info.input_shape))
