"""Architectures built from SpikingJelly 2 multi-step layers.

Every network maps a time-major input ``[T, B, ...]`` to a readout ``[T, B, C]``:
a non-spiking linear layer (averaged over T for the logits) or, with
``readout="spiking"``, a spiking output layer (logits are then spike counts).
Each architecture has an ANN twin: the same layers with ReLU, run for one step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer

from snnkd.core.config import NeuronConfig
from snnkd.core.registry import Registry
from snnkd.models import pooling
from snnkd.models.neurons import make_neuron

Neuron = Callable[[], nn.Module]


class SpikingNet(nn.Module):
    """``features`` -> ``head`` (linear) -> optional ``out_neuron``.

    ``forward`` returns the per-step readout ``[T, B, C]`` (output spikes when
    the output layer spikes); :meth:`logits` reduces it over time.
    """

    def __init__(
        self,
        features: nn.Sequential,
        head: nn.Module,
        out_neuron: nn.Module | None,
        spec: dict[str, Any],
    ) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.out_neuron = out_neuron
        self.spec = spec  # what build_model needs to rebuild it
        functional.set_step_mode(self, "m")

    @property
    def spiking_output(self) -> bool:
        return self.out_neuron is not None

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...] -> [T, B, C]``.

        When every step holds the same tensor (direct encoding passes an
        ``expand``-ed view, stride 0 over time), the stateless layers before the
        first neuron (the encoding conv and its BN) run once and are expanded
        over T: the same values and gradients, T times less work there.
        """
        h = x_seq
        rest: nn.Module = self.features
        if x_seq.dim() > 1 and x_seq.shape[0] > 1 and x_seq.stride(0) == 0:
            stem = self._stem_length()
            if stem:
                h = self.features[:stem](x_seq[:1])
                h = h.expand(x_seq.shape[0], *h.shape[1:])
                rest = self.features[stem:]
        out = self.head(rest(h))
        return self.out_neuron(out) if self.out_neuron is not None else out

    def _stem_length(self) -> int:
        """How many leading feature layers come before the first stateful or nonlinear one."""
        stateless = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten)
        n = 0
        for module in self.features:
            if not isinstance(module, stateless):
                break
            n += 1
        return n

    def logits(self, out_seq: torch.Tensor) -> torch.Tensor:
        """``z = (1/T) sum_t o_t``; for a spiking output the spike counts ``n = sum_t s_t``."""
        return out_seq.sum(0) if self.spiking_output else out_seq.mean(0)


class BasicBlock(nn.Module):
    """Spiking residual block: ``lif(bn(conv(lif(bn(conv(x))))) + shortcut(x))``."""

    def __init__(self, cin: int, cout: int, stride: int, neuron: Neuron) -> None:
        super().__init__()
        self.conv1 = layer.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = layer.BatchNorm2d(cout)
        self.lif1 = neuron()
        self.conv2 = layer.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = layer.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                layer.Conv2d(cin, cout, 1, stride=stride, bias=False), layer.BatchNorm2d(cout)
            )
        self.lif2 = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        return self.lif2(out + self.shortcut(x))


class MSBlock(nn.Module):
    """Membrane-shortcut block (MS-ResNet): ``x + bn2(conv2(lif2(bn1(conv1(lif1(x))))))``.

    ``x`` is a real-valued membrane input, not spikes: the residual path adds
    pre-spike inputs, and the block fires at its start (``lif1``), so every
    convolution reads spikes. When the block changes stride or width, the
    shortcut is ``bn(conv1x1(lif1(x)))`` on the same input spikes (the suite's
    choice, keeping every convolution spike-driven).
    """

    def __init__(self, cin: int, cout: int, stride: int, neuron: Neuron) -> None:
        super().__init__()
        self.lif1 = neuron()
        self.conv1 = layer.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = layer.BatchNorm2d(cout)
        self.lif2 = neuron()
        self.conv2 = layer.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = layer.BatchNorm2d(cout)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                layer.Conv2d(cin, cout, 1, stride=stride, bias=False), layer.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif1(x)
        out = self.bn2(self.conv2(self.lif2(self.bn1(self.conv1(s)))))
        return out + (x if self.shortcut is None else self.shortcut(s))


def ms_resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: Neuron,
    stages=(64, 128, 256, 512),
    blocks=(2, 2, 2, 2),
    width: float = 1.0,
):
    """Membrane-shortcut spiking ResNet (MS-ResNet, Hu et al., TNNLS 2024), as MD-SNN trains it.

    A stem ``bn(conv3x3)`` whose real-valued output is the first block's
    membrane input, :class:`MSBlock` stages (stride 2 after the first), then a
    neuron (``lif_out``), a global average pool and the head. The defaults are
    MS-ResNet-18 for 32x32 images (stages 64/128/256/512, two blocks each).
    """
    stem = max(1, round(stages[0] * width))
    layers: list[tuple[str, nn.Module]] = [
        ("conv0", layer.Conv2d(input_shape[0], stem, 3, padding=1, bias=False)),
        ("bn0", layer.BatchNorm2d(stem)),
    ]
    cin = stem
    for s, (c, n) in enumerate(zip(stages, blocks, strict=True), 1):
        cout = max(1, round(c * width))
        for b in range(n):
            stride = 2 if (s > 1 and b == 0) else 1
            layers.append((f"block{s}_{b + 1}", MSBlock(cin, cout, stride, neuron)))
            cin = cout
    layers += [
        ("lif_out", neuron()),
        ("gap", layer.AdaptiveAvgPool2d(1)),
        ("flatten", layer.Flatten()),
    ]
    return layers, cin


def _conv_stack(
    dims: int, cin: int, channels: Sequence[int | str], neuron: Neuron
) -> tuple[list[tuple[str, nn.Module]], int, int]:
    """Conv-BN-neuron units; ``"M"`` is a 2x max-pool (:mod:`snnkd.models.pooling`). Returns layers,
    channels, pools."""
    conv, bn, pool = (
        (layer.Conv2d, layer.BatchNorm2d, pooling.MaxPool2d)
        if dims == 2
        else (layer.Conv1d, layer.BatchNorm1d, pooling.MaxPool1d)
    )
    layers: list[tuple[str, nn.Module]] = []
    pools, unit = 0, 0
    for c in channels:
        if c == "M":
            pools += 1
            layers.append((f"pool{pools}", pool(2)))
            continue
        unit += 1
        layers += [
            (f"conv{unit}", conv(cin, int(c), 3, padding=1, bias=False)),
            (f"bn{unit}", bn(int(c))),
            (f"lif{unit}", neuron()),
        ]
        cin = int(c)
    return layers, cin, pools


def _fc_stack(fin: int, hidden: Sequence[int], neuron: Neuron, prefix: str = "fc"):
    layers: list[tuple[str, nn.Module]] = []
    for i, h in enumerate(hidden, 1):
        layers += [
            (f"{prefix}{i}", layer.Linear(fin, h, bias=False)),
            (f"{prefix}bn{i}", layer.BatchNorm1d(h)),
            (f"{prefix}lif{i}", neuron()),
        ]
        fin = h
    return layers, fin


def mlp(input_shape: tuple[int, ...], num_classes: int, neuron: Neuron, hidden=(256,)):
    """Spiking MLP: Flatten -> [Linear-BN-LIF] x len(hidden) -> head."""
    fin = 1
    for d in input_shape:
        fin *= d
    layers, fin = _fc_stack(fin, hidden, neuron)
    return [("flatten", layer.Flatten())] + layers, fin


def _conv_classifier(dims: int, input_shape, neuron: Neuron, channels, width: float, hidden):
    """Conv-BN-neuron units and pools (``channels``, scaled by ``width``), then an FC stack."""
    chans = [c if c == "M" else max(1, round(int(c) * width)) for c in channels]
    layers, cout, pools = _conv_stack(dims, input_shape[0], chans, neuron)
    fin = cout
    for size in input_shape[1:]:
        fin *= size >> pools
    fc, fin = _fc_stack(fin, [max(1, round(x * width)) for x in hidden], neuron)
    return layers + [("flatten", layer.Flatten())] + fc, fin


def vgg(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: Neuron,
    channels=(32, "M", 64, "M"),
    width: float = 1.0,
    hidden=(),
):
    """VGG-style spiking CNN on ``[C, H, W]``: ``channels`` (ints, "M" for max-pool) scaled by ``width``."""
    return _conv_classifier(2, input_shape, neuron, channels, width, hidden)


def cnn1d(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: Neuron,
    channels=(32, "M", 64, "M"),
    width: float = 1.0,
    hidden=(),
):
    """1-D spiking CNN for sequences ``[C, L]``: Conv1d-BN-LIF units and pools."""
    return _conv_classifier(1, input_shape, neuron, channels, width, hidden)


def resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron: Neuron,
    stages=(16, 32, 64),
    blocks=(1, 1, 1),
    width: float = 1.0,
):
    """Spiking ResNet: a stem conv, BasicBlock stages (stride 2 after the first), global pool.

    ``blocks=(1, 1, 1)`` is the ResNet-8 of Louis et al.; ``(2, 2, 2)`` a ResNet-14,
    ``stages=(128, 256, 512), blocks=(3, 3, 2)`` the ResNet-19 of MD-SNN-style work.
    """
    cin = input_shape[0]
    stem = max(1, round(stages[0] * width))
    layers: list[tuple[str, nn.Module]] = [
        ("conv0", layer.Conv2d(cin, stem, 3, padding=1, bias=False)),
        ("bn0", layer.BatchNorm2d(stem)),
        ("lif0", neuron()),
    ]
    cin = stem
    for s, (c, n) in enumerate(zip(stages, blocks, strict=True), 1):
        cout = max(1, round(c * width))
        for b in range(n):
            stride = 2 if (s > 1 and b == 0) else 1
            layers.append((f"block{s}_{b + 1}", BasicBlock(cin, cout, stride, neuron)))
            cin = cout
    layers += [("gap", layer.AdaptiveAvgPool2d(1)), ("flatten", layer.Flatten())]
    return layers, cin


ARCHITECTURES: Registry[Callable[..., tuple[list, int]]] = Registry("architecture")
ARCHITECTURES.register("mlp", mlp)
ARCHITECTURES.register("vgg", vgg)
ARCHITECTURES.register("cnn1d", cnn1d)
ARCHITECTURES.register("resnet", resnet)
ARCHITECTURES.register("ms-resnet", ms_resnet)


def build_model(
    arch: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    neuron_cfg: NeuronConfig,
    *,
    ann: bool = False,
    readout: str = "mean",
    **kwargs: Any,
) -> SpikingNet:
    """Build architecture ``arch`` (its ANN twin with ``ann=True``)."""
    builder = ARCHITECTURES.get(arch, field="model")

    def neuron() -> nn.Module:
        return make_neuron(neuron_cfg, ann)

    layers, fin = builder(tuple(input_shape), num_classes, neuron, **kwargs)
    head = layer.Linear(fin, num_classes)
    out_neuron = neuron() if readout == "spiking" and not ann else None
    spec = {
        "arch": arch,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "neuron": neuron_cfg.model_dump(),
        "ann": ann,
        "readout": readout,
        "kwargs": kwargs,
    }
    return SpikingNet(nn.Sequential(OrderedDict(layers)), head, out_neuron, spec)


def rebuild(spec: dict[str, Any]) -> SpikingNet:
    """Rebuild a network from its ``spec`` (stored in every checkpoint)."""
    return build_model(
        spec["arch"],
        tuple(spec["input_shape"]),
        spec["num_classes"],
        NeuronConfig(**spec["neuron"]),
        ann=spec["ann"],
        readout=spec["readout"],
        **spec["kwargs"],
    )
