"""Per-dataset model presets: ``teacher``, ``assistant`` and ``student``.

The student is several times smaller than the teacher (see ``snnkd list models``
for the parameter counts); the assistant sits between them for multi-stage KD.
"""

from __future__ import annotations

from typing import Any

from snnkd.errors import ConfigError

Preset = tuple[str, dict[str, Any]]

PRESETS: dict[str, dict[str, Preset]] = {
    "digits": {
        "teacher": ("vgg", {"channels": (64, 64, "M", 128, 128, "M"), "hidden": (256,)}),
        "assistant": ("vgg", {"channels": (32, "M", 64, "M"), "hidden": (128,)}),
        "student": ("vgg", {"channels": (16, "M", 32, "M")}),
        "mlp": ("mlp", {"hidden": (128,)}),
        "resnet8": ("resnet", {"stages": (16, 32, 64), "blocks": (1, 1, 1)}),
    },
    "mnist1d": {
        "teacher": ("cnn1d", {"channels": (64, "M", 128, "M", 128, "M"), "hidden": (256,)}),
        "assistant": ("cnn1d", {"channels": (32, "M", 64, "M"), "hidden": (128,)}),
        "student": ("cnn1d", {"channels": (16, "M", 32, "M")}),
        "mlp": ("mlp", {"hidden": (256,)}),
    },
}


def preset_for(dataset: str, name: str) -> Preset:
    """The architecture and its arguments for preset ``name`` of ``dataset``."""
    table = PRESETS.get(dataset)
    if table is None:
        raise ConfigError(f"model: no presets for dataset '{dataset}'")
    if name not in table:
        raise ConfigError(f"model: unknown model '{name}' for {dataset}; valid choices: {', '.join(table)}")
    return table[name]
