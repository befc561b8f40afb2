"""The per-epoch evaluation path: the 2x max-pools' fast forward, batch-norm re-estimation under
``torch.inference_mode`` and its opt-in subset size (``train.bn_samples``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import layer

from snnkd.core.config import RunConfig
from snnkd.evaluation.batchnorm import PRECISE_BN_SAMPLES, recalibrate
from snnkd.models import pooling


@pytest.mark.parametrize("shape", [(4, 3, 2, 8, 8), (2, 5, 3, 7, 9), (3, 2, 1, 2, 4)])
def test_fast_2d_pool_equals_max_pool2d(shape):
    g = torch.Generator().manual_seed(0)
    for x in (torch.randn(shape, generator=g), (torch.rand(shape, generator=g) > 0.7).float()):
        x[0, 0, 0, 0, 0] = float("nan")
        want = F.max_pool2d(x.flatten(0, 1), 2).unflatten(0, shape[:2])
        got = pooling.max_pool_2x(x, 2)
        assert got.shape == want.shape and torch.equal(got.isnan(), want.isnan())
        assert torch.equal(got.nan_to_num(), want.nan_to_num())


def test_fast_1d_pool_equals_max_pool1d():
    x = torch.randn(3, 4, 2, 11, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pooling.max_pool_2x(x, 1), F.max_pool1d(x.flatten(0, 1), 2).unflatten(0, (3, 4)))


def test_pools_take_the_fast_path_only_without_gradients():
    pool, reference = pooling.MaxPool2d(2, step_mode="m"), layer.MaxPool2d(2, step_mode="m")
    x = (torch.rand(2, 3, 4, 6, 6, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    with torch.inference_mode():
        assert torch.equal(pool(x), reference(x))
    # with gradients: max_pool's own backward (a tie's gradient goes to the window's first maximum)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    pool(a).sum().backward()
    reference(b).sum().backward()
    assert torch.equal(a.grad, b.grad) and a.grad.sum() == pool(x).numel()
    assert not pooling.is_plain_2x(layer.MaxPool2d(3, step_mode="m"), 2)
    with torch.inference_mode(), pytest.raises(RuntimeError):  # too small: max_pool's own error
        pool(torch.zeros(1, 1, 1, 1, 4))


def _bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_recalibrated_statistics_are_those_of_no_grad_and_training_goes_on():
    torch.manual_seed(0)
    x = torch.randn(300, 3)
    net, twin = _bn_net(), _bn_net()
    twin.load_state_dict(net.state_dict())
    recalibrate(net, x, lambda b: b, 64, torch.device("cpu"))
    with torch.no_grad():
        recalibrate.__wrapped__(twin, x, lambda b: b, 64, torch.device("cpu"))
    mine, theirs = net.state_dict(), twin.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert not net[1].running_mean.is_inference()
    net.train()
    net(x[:8]).sum().backward()  # the re-estimated buffers serve training as before
    assert net[0].weight.grad is not None


def test_bn_samples_picks_that_many_fixed_samples():
    x = torch.randn(50, 3)
    net = nn.Sequential(nn.BatchNorm1d(3))
    recalibrate(net, x, lambda b: b, 64, torch.device("cpu"), max_samples=20)
    pick = torch.randperm(50, generator=torch.Generator().manual_seed(0))[:20].sort().values
    torch.testing.assert_close(net[0].running_mean, x[pick].mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(net[0].running_var, x[pick].var(0), rtol=0, atol=1e-6)


def test_bn_samples_is_additive():
    assert RunConfig().train.bn_samples == PRECISE_BN_SAMPLES
    assert "bn_samples" not in RunConfig().model_dump()["train"]
    small = RunConfig(train={"bn_samples": 512})
    assert small.model_dump()["train"]["bn_samples"] == 512
    assert small.identity() != RunConfig().identity()


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_fused_lif_without_autograd_is_the_same_in_slices(reset):
    from spikingjelly.activation_based import neuron

    from snnkd.core.config import NeuronConfig
    from snnkd.models import fused_lif, make_neuron

    cfg = NeuronConfig(reset=reset)
    node, reference = make_neuron(cfg), make_neuron(cfg.model_copy(update={"backend": "spikingjelly"}))
    assert isinstance(node, fused_lif.FusedLIFNode) and type(reference) is neuron.LIFNode
    x = torch.randn(
        4, 3 * fused_lif.INFERENCE_SLICE // 64 + 5, 4, 4, 4, generator=torch.Generator().manual_seed(3)
    )
    want = reference(x + 0.7)
    with torch.inference_mode():
        got = node(x + 0.7)
    assert torch.equal(got, want) and torch.equal(node.v, reference.v)
    assert node.v_seq is None and node.h_seq is None
