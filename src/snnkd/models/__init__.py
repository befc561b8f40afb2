"""Spiking architectures, their ANN twins, and per-dataset presets."""

from snnkd.models.builders import ARCHITECTURES, SpikingNet, build_model
from snnkd.models.neurons import SURROGATES, make_neuron, spiking_layers
from snnkd.models.presets import PRESETS, preset_for

__all__ = [
    "ARCHITECTURES",
    "PRESETS",
    "SURROGATES",
    "SpikingNet",
    "build_model",
    "make_neuron",
    "preset_for",
    "spiking_layers",
]
