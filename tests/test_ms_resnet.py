"""MS-ResNet (membrane shortcuts): structure, presets, quantization and the md-snn suites."""

from __future__ import annotations

import pytest
import torch
import yaml
from spikingjelly.activation_based import functional

from snnkd import quant as Q
from snnkd.core.config import NeuronConfig
from snnkd.methods.trace import Tracer, hidden_layers
from snnkd.models import build_model, preset_for
from snnkd.models.builders import MSBlock

MD_SNN_SUITES = ("md-snn", "md-snn-2bit", "md-snn-8bit")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(ann: bool = False):
    torch.manual_seed(0)
    return build_model("ms-resnet", (3, 16, 16), 10, NeuronConfig(), ann=ann, stages=(4, 8), blocks=(2, 1))


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "tiny-imagenet", "n-caltech101"])
def test_ms_resnet18_preset_for_the_md_snn_datasets(dataset):
    arch, kwargs = preset_for(dataset, "ms-resnet18")
    assert arch == "ms-resnet" and kwargs == {"stages": (64, 128, 256, 512), "blocks": (2, 2, 2, 2)}


def test_ms_resnet18_on_cifar10_has_resnet18_parameter_count():
    arch, kwargs = preset_for("cifar10", "ms-resnet18")
    model = build_model(arch, (3, 32, 32), 10, NeuronConfig(), **kwargs)
    # the CIFAR ResNet-18: 11,173,962 parameters (the same convolutions, BNs and head)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    blocks = [m for m in model.modules() if isinstance(m, MSBlock)]
    assert len(blocks) == 8 and sum(b.shortcut is not None for b in blocks) == 3


def test_the_residual_path_carries_membrane_inputs_not_spikes():
    model = _tiny().eval()
    block = model.features.block1_2  # identity shortcut
    with torch.no_grad():
        block.conv2.weight.zero_()  # main path adds bn2(0) = beta = 0
    x = torch.randn(2, 3, 4, 16, 16) * 3  # real-valued membrane input
    y = block(x)
    functional.reset_net(model)
    assert torch.equal(y, x)  # spikes could not reproduce x
    assert not torch.equal(x, x.round())


def test_every_convolution_after_the_stem_reads_spikes():
    model = _tiny()
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, i[0]))
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and n != "features.conv0"
    ]
    model(torch.randn(2, 2, 3, 16, 16))
    for h in hooks:
        h.remove()
    assert len(seen) == 2 * 3 + 1  # two convs per block and one downsampling shortcut
    for name, x in seen.items():
        assert set(torch.unique(x).tolist()) <= {0.0, 1.0}, name


def test_hidden_layers_and_shapes():
    model = _tiny()
    names = list(hidden_layers(model))
    assert names == [
        "features.block1_1.lif1",
        "features.block1_1.lif2",
        "features.block1_2.lif1",
        "features.block1_2.lif2",
        "features.block2_1.lif1",
        "features.block2_1.lif2",
        "features.lif_out",
    ]
    k = Tracer(model, {"membrane", "spikes"})(torch.randn(3, 2, 3, 16, 16))
    assert k.logits.shape == (2, 10) and k.membrane["features.block2_1.lif2"].shape == (3, 2, 8, 8, 8)
    ann = _tiny(ann=True)
    assert ann(torch.randn(1, 2, 3, 16, 16)).shape == (1, 2, 10)


@pytest.mark.parametrize("scheme", ["lsq", "mint"])
def test_ms_resnet_quantizes_and_exports(scheme):
    from types import SimpleNamespace

    model = _tiny()
    cfg = SimpleNamespace(
        quant=SimpleNamespace(weight_bits=4, membrane_bits=4, membrane_range=2.0, scheme=scheme)
    )
    q = Q.quantize_model(model, cfg)
    f = q.features
    assert isinstance(f.block2_1.shortcut[0], Q.QuantLayer) and isinstance(f.conv0, Q.QuantLayer)
    if scheme == "mint":
        # a block's first neuron reads the previous block's output: its main path's last layer
        assert f.block1_2.lif1._source == [f.block1_1.conv2]
        assert f.block2_1.lif2._source == [f.block2_1.conv1]
        assert f.lif_out._source == [f.block2_1.conv2]
    x = torch.randn(2, 4, 3, 16, 16)
    q.train()
    q(x)
    functional.reset_net(q)
    q.eval()
    with torch.no_grad():
        a = q(x)
        functional.reset_net(q)
        b = Q.export_integer(q)(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("suite", MD_SNN_SUITES)
def test_md_snn_suites_use_ms_resnet18(suite):
    from pathlib import Path

    data = yaml.safe_load((Path(__file__).parents[1] / "benchmarks" / f"{suite}.yaml").read_text())
    assert data["student"] == "ms-resnet18"
    for dataset in data["datasets"]:
        preset_for(dataset, data["student"])
