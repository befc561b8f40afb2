"""The fused multi-step LIF (snnkd.models.fused_lif) against SpikingJelly's neuron and snnkd's quantized loop.

Spikes identical; membranes and every gradient within 1e-6 relative. With a detached reset (the suite's
setting) the gradients are bit-identical (``torch.equal``, which counts -0 equal to +0): the fused path
replays the reference's float operations in order.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from snnkd.methods.trace import Tracer
from snnkd.models.fused_lif import FusedLIFNode, surrogate_kind
from snnkd.quant import QuantLIFNode

SURROGATES = (surrogate.ATan, surrogate.Sigmoid, surrogate.PiecewiseQuadratic)
OPTIONS = list(itertools.product((0.0, None), (True, False), (True, False), SURROGATES))


def _close(a: torch.Tensor, b: torch.Tensor, exact: bool) -> None:
    if exact:
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * float(b.abs().max()))


def _inputs(seed: int, shape=(4, 16, 6, 5, 5)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 1.5 + 0.3
    return x, torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def _pair(cls_b, reset, detach, decay, sur, **extra):
    kw = dict(tau=2.0, v_reset=reset, detach_reset=detach, decay_input=decay, step_mode="m")
    a = (neuron.LIFNode if cls_b is FusedLIFNode else QuantLIFNode)(surrogate_function=sur(), **kw, **extra)
    b = cls_b(surrogate_function=sur(), **kw, **extra)
    return a, b


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
DEVICES = ["cpu", pytest.param("cuda", marks=NO_CUDA)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reset,detach,decay,sur", OPTIONS)
def test_fused_matches_spikingjelly(reset, detach, decay, sur, device):
    """Spikes, membrane trace (store_v_seq) and input gradients, through spikes and through V. On a CUDA
    tensor the fused node hands over to SpikingJelly's own backend, so there the gradient is exact too."""
    a, b = _pair(FusedLIFNode, reset, detach, decay, sur)
    x, gs, gv = (t.to(device) for t in _inputs(1))
    results = []
    for node in (a.to(device), b.to(device)):
        node.store_v_seq = True
        xi = x.clone().requires_grad_()
        s = node(xi)
        ((s * gs).sum() + (node.v_seq * gv).sum()).backward()
        results.append((s, node.v_seq.detach(), xi.grad))
    (sa, va, ga), (sb, vb, gb) = results
    assert sa.device.type == device and torch.equal(sa, sb) and sa.sum() > 0
    _close(vb, va, exact=True)
    _close(gb, ga, exact=device == "cuda")  # on the CPU bit-identical without a V gradient: the next test


@pytest.mark.parametrize("surrogate_cls", SURROGATES)
def test_training_gradient_is_bit_identical(surrogate_cls):
    """The trainer's case: only spikes get a gradient, V is not stored; two calls continue the state."""
    a, b = _pair(FusedLIFNode, 0.0, True, True, surrogate_cls)
    x, gs, _ = _inputs(2)
    grads = []
    for node in (a, b):
        xi = x.clone().requires_grad_()
        out = torch.cat([node(xi[:2]), node(xi[2:])])  # the second call starts from the first's V
        (out * gs).sum().backward()
        grads.append((out, xi.grad))
        functional.reset_net(node)
    assert torch.equal(grads[0][0], grads[1][0])
    assert torch.equal(grads[0][1], grads[1][1])


@pytest.mark.parametrize("reset,detach,decay,sur", OPTIONS)
def test_fused_quantized_membrane_matches_the_loop(reset, detach, decay, sur):
    """QuantLIFNode (LSQ grid, MD-SNN) fused against its own per-step autograd loop."""
    a, b = _pair(QuantLIFNode, reset, detach, decay, sur, membrane_bits=3, membrane_range=2.0)
    b.fused = True
    x, gs, gh = _inputs(3)
    results = []
    for node in (a, b):
        node.store_v_seq = True
        xi = x.clone().requires_grad_()
        s = node(xi)
        h = node.membrane_before_fire(xi)
        ((s * gs).sum() + (h * gh).sum()).backward()
        results.append((s, h.detach(), node.v_seq.detach(), xi.grad))
    (sa, ha, va, ga), (sb, hb, vb, gb) = results
    assert torch.equal(sa, sb)
    assert torch.equal(ha, hb) and torch.equal(va, vb)
    assert (ha.abs() >= 2.0 - 0.5).any()  # some potentials reach the clamp, whose mask then acts
    _close(gb, ga, exact=False)


def test_quantized_training_gradient_is_bit_identical():
    a, b = _pair(QuantLIFNode, 0.0, True, True, surrogate.ATan, membrane_bits=4, membrane_range=2.0)
    b.fused = True
    x, gs, _ = _inputs(4)
    grads = []
    for node in (a, b):
        xi = x.clone().requires_grad_()
        s = node(xi)
        (s * gs).sum().backward()
        grads.append((s, xi.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_trace_hooks_record_the_same_knowledge():
    """Spikes and pre-fire membranes of the Tracer, and a membrane loss's gradient, through both neurons."""
    torch.manual_seed(0)

    def net(cls):
        torch.manual_seed(0)
        lif = cls(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")
        return torch.nn.Sequential(torch.nn.Linear(8, 12), lif, torch.nn.Linear(12, 3))

    x = torch.randn(4, 10, 8) * 2
    out = []
    for model in (net(neuron.LIFNode), net(FusedLIFNode)):
        k = Tracer(model, {"spikes", "membrane"})(x)
        (k.membrane["1"].square().mean() + k.logits.sum()).backward()
        out.append((k.spikes["1"], k.membrane["1"].detach(), model[0].weight.grad))
        functional.reset_net(model)
    assert torch.equal(out[0][0], out[1][0]) and out[0][0].sum() > 0
    assert torch.equal(out[0][1], out[1][1])
    _close(out[1][2], out[0][2], exact=False)


def test_fused_is_deterministic():
    x, gs, _ = _inputs(5)
    runs = []
    for _ in range(2):
        node = FusedLIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(), step_mode="m")
        xi = x.clone().requires_grad_()
        (node(xi) * gs).sum().backward()
        runs.append(xi.grad)
    assert torch.equal(runs[0], runs[1])


def test_unsupported_surrogate_is_refused():
    with pytest.raises(ValueError, match="surrogate Erf is not supported"):
        FusedLIFNode(surrogate_function=surrogate.Erf())
    assert surrogate_kind(surrogate.PiecewiseQuadratic()) == ("triangle", 1.0)
