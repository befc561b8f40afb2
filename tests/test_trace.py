import torch
from handbuilt import MEMBRANE, SPIKES, handbuilt_input, handbuilt_net
from spikingjelly.activation_based import functional

from snnkd.core.config import NeuronConfig
from snnkd.methods.trace import Knowledge, Tracer
from snnkd.models import build_model


def test_trace_records_known_spikes_and_membrane_before_fire():
    net = handbuilt_net()
    k = Tracer(net, {"logits", "readout", "spikes", "membrane"})(handbuilt_input(2))
    assert list(k.spikes) == ["features.lif"]
    assert torch.equal(k.spikes["features.lif"], SPIKES.unsqueeze(1).repeat(1, 2, 1))
    assert torch.allclose(k.membrane["features.lif"], MEMBRANE.unsqueeze(1).repeat(1, 2, 1))
    # readout per step is the head applied to the spikes; logits its mean over time
    expected_readout = SPIKES @ net.head.weight.T
    assert torch.allclose(k.readout[:, 0], expected_readout)
    assert torch.allclose(k.logits[0], expected_readout.mean(0))
    assert k.rates()["features.lif"][0].tolist() == [1.0, 0.5, 0.0]


def test_traced_spikes_equal_the_neurons_outputs():
    net = build_model("vgg", (1, 8, 8), 10, NeuronConfig(), channels=(4, "M", 8, "M"))
    x = torch.rand(4, 3, 1, 8, 8) * 3
    k = Tracer(net, {"spikes", "membrane"})(x)
    functional.reset_net(net)
    # replay layer by layer: each LIF's output must equal what the trace holds
    h = x
    for name, module in net.features.named_children():
        h = module(h)
        if name.startswith("lif"):
            assert torch.equal(k.spikes[f"features.{name}"], h)
            # a spike happens exactly where the membrane before fire reaches threshold
            assert torch.equal(h.bool(), k.membrane[f"features.{name}"] >= 1.0)
    assert k.spikes["features.lif1"].shape == (4, 3, 4, 8, 8)


def test_trace_records_only_what_is_asked():
    net = handbuilt_net()
    k = Tracer(net, {"logits"})(handbuilt_input())
    assert k.spikes == {} and k.membrane == {} and k.readout is None and k.out_spikes is None
    assert all(not m._forward_hooks for m in net.modules())
    assert all(not getattr(m, "store_v_seq", False) for m in net.modules())


def test_knowledge_select_and_cat_round_trip():
    net = handbuilt_net()
    k = Tracer(net, {"logits", "spikes"})(torch.rand(4, 6, 3) * 3)
    idx = torch.tensor([4, 1])
    part = k.select(idx)
    assert torch.equal(part.logits, k.logits[idx])
    assert torch.equal(part.spikes["features.lif"], k.spikes["features.lif"][:, idx])
    whole = Knowledge.cat([k.select(torch.arange(0, 3)), k.select(torch.arange(3, 6))])
    assert torch.equal(whole.spikes["features.lif"], k.spikes["features.lif"])
