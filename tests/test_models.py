import pytest
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, neuron

from snnkd.core.config import NeuronConfig
from snnkd.models import PRESETS, build_model, preset_for, spiking_layers


@pytest.mark.parametrize(
    "arch,shape,kwargs",
    [
        ("mlp", (1, 8, 8), {"hidden": (16,)}),
        ("vgg", (1, 8, 8), {"channels": (4, "M", 8, "M"), "hidden": (16,)}),
        ("cnn1d", (1, 40), {"channels": (4, "M", 8, "M")}),
        ("resnet", (3, 16, 16), {"stages": (4, 8), "blocks": (1, 1)}),
    ],
)
def test_architectures_map_time_major_input_to_readout(arch, shape, kwargs):
    net = build_model(arch, shape, 10, NeuronConfig(), **kwargs)
    out = net(torch.rand(3, 2, *shape))
    assert out.shape == (3, 2, 10)
    assert net.logits(out).shape == (2, 10)
    assert spiking_layers(net)  # LIF layers are present
    ann = build_model(arch, shape, 10, NeuronConfig(), ann=True, **kwargs)
    assert not spiking_layers(ann)
    assert any(isinstance(m, nn.ReLU) for m in ann.modules())
    assert ann(torch.rand(1, 2, *shape)).shape == (1, 2, 10)
    # the twin has exactly the same parameters
    assert [p.shape for p in net.parameters()] == [p.shape for p in ann.parameters()]


def test_spiking_readout_emits_spikes_and_counts_as_logits():
    net = build_model("mlp", (4,), 3, NeuronConfig(), readout="spiking", hidden=(8,))
    out = net(torch.rand(5, 2, 4) * 5)
    assert net.spiking_output and set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(net.logits(out), out.sum(0))


def test_neuron_settings_reach_the_lif_layers():
    cfg = NeuronConfig(tau=3.0, v_threshold=0.5, reset="soft", surrogate="sigmoid")
    net = build_model("mlp", (4,), 3, cfg, hidden=(8,))
    lif = next(iter(spiking_layers(net).values()))
    assert isinstance(lif, neuron.LIFNode)
    assert lif.tau == 3.0 and lif.v_threshold == 0.5 and lif.v_reset is None
    assert type(lif.surrogate_function).__name__ == "Sigmoid"
    functional.reset_net(net)


def test_presets_student_is_several_times_smaller_than_teacher():
    for dataset in PRESETS:
        from snnkd.data import DATASETS

        info = DATASETS.get(dataset).info
        sizes = {}
        for name in ("teacher", "assistant", "student"):
            arch, kw = preset_for(dataset, name)
            net = build_model(arch, info.input_shape, info.num_classes, NeuronConfig(), **kw)
            sizes[name] = sum(p.numel() for p in net.parameters())
        assert sizes["teacher"] > sizes["assistant"] > sizes["student"]
        assert sizes["teacher"] >= 5 * sizes["student"]
