"""Every loss term against a value computed by hand on tiny tensors."""

import math

import pytest
import torch

from snnkd.methods.terms import TERMS, FeatureAdapter
from snnkd.methods.trace import Knowledge


def K(logits=None, out_spikes=None, spikes=None, membrane=None) -> Knowledge:
    return Knowledge(
        logits=torch.tensor(logits) if logits is not None else torch.zeros(1, 1),
        out_spikes=None if out_spikes is None else torch.tensor(out_spikes),
        spikes={k: torch.tensor(v) for k, v in (spikes or {}).items()},
        membrane={k: torch.tensor(v) for k, v in (membrane or {}).items()},
    )


def softmax(z):
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def call(name, s, k=None, y=None, **params):
    y = torch.tensor(y if y is not None else [0])
    return float(TERMS.get(name).fn(s, k, y, **params))


def test_ce():
    z = [[1.0, 2.0, 0.0], [0.5, 0.5, 3.0]]
    expected = (-math.log(softmax(z[0])[1]) - math.log(softmax(z[1])[0])) / 2
    assert call("ce", K(z), y=[1, 0]) == pytest.approx(expected, rel=1e-6)


def test_kd_kl_has_tau_squared_and_batch_mean():
    zs, zk, tau = [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 1.0, 3.0], [2.0, 0.0, 1.0]], 2.0
    per = [
        kl(softmax([v / tau for v in k]), softmax([v / tau for v in s])) for s, k in zip(zs, zk, strict=True)
    ]
    expected = tau**2 * sum(per) / 2
    assert call("kd_kl", K(zs), K(zk), tau=tau) == pytest.approx(expected, rel=1e-6)


def test_kd_count_uses_output_spike_counts():
    # T = 3, B = 1, C = 2: student counts (1, 2), teacher counts (3, 0)
    s = K(out_spikes=[[[1.0, 1.0]], [[0.0, 1.0]], [[0.0, 0.0]]])
    k = K(out_spikes=[[[1.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0]]])
    tau = 1.5
    expected = tau**2 * kl(softmax([3 / tau, 0]), softmax([1 / tau, 2 / tau]))
    assert call("kd_count", s, k, tau=tau) == pytest.approx(expected, rel=1e-6)


def test_kd_spike_train_is_squared_difference_over_T_C_and_batch():
    # T = 2, B = 2, C = 2; sample 0 differs in 3 places, sample 1 in 1
    s = K(out_spikes=[[[1.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])
    k = K(out_spikes=[[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 1.0]]])
    expected = ((3 / (2 * 2)) + (1 / (2 * 2))) / 2
    assert call("kd_spike_train", s, k) == pytest.approx(expected)


def test_kd_mse_and_logit_l2():
    zs, zk = [[1.0, 2.0], [0.0, -1.0]], [[0.0, 0.0], [1.0, 1.0]]
    assert call("kd_mse", K(zs), K(zk)) == pytest.approx(((1 + 4) / 2 + (1 + 4) / 2) / 2)
    assert call("logit_l2", K(zs)) == pytest.approx(((1 + 4) / 2 + (0 + 1) / 2) / 2)


SPIKES = {
    # layer a: T = 2, B = 1, N = 2: rates (0.5, 1.0)
    "a": [[[1.0, 1.0]], [[0.0, 1.0]]],
    # layer b: T = 2, B = 1, N = 1: rate 0.5
    "b": [[[0.0]], [[1.0]]],
}


def test_act_l1_is_mean_rate_per_layer_then_over_layers():
    assert call("act_l1", K(spikes=SPIKES)) == pytest.approx(((0.5 + 1.0) / 2 + 0.5) / 2)


def test_act_l2_squares_rates_not_binary_spikes():
    expected = ((0.25 + 1.0) / 2 + 0.25) / 2
    assert call("act_l2", K(spikes=SPIKES)) == pytest.approx(expected)
    binary_squares = ((1 + 1 + 0 + 1) / 4 + 0.5) / 2  # what squaring spikes would give
    assert expected != pytest.approx(binary_squares)


def test_membrane_mse_over_aligned_layers():
    s = K(membrane={"l1": [[[1.0, 2.0]], [[0.0, 0.0]]], "l2": [[[1.0]], [[1.0]]]})
    k = K(membrane={"l1": [[[0.0, 0.0]], [[0.0, 2.0]]], "l2": [[[0.0]], [[1.0]]]})
    expected = ((1 + 4 + 0 + 4) / (2 * 2) + (1 + 0) / (2 * 1)) / 2
    assert call("membrane_mse", s, k) == pytest.approx(expected)
    bad = K(membrane={"l1": [[[0.0, 0.0, 0.0]]]})
    with pytest.raises(ValueError, match="does not align"):
        call("membrane_mse", s, bad)


def test_feature_mse_with_a_known_adapter():
    s = K(spikes={"c": [[[[1.0, 0.0]], [[1.0, 1.0]]]]})  # T=1, B=1, C=2, L=2: rates as given
    s.spikes["c"] = s.spikes["c"].reshape(1, 1, 2, 2)
    k = K(spikes={"d": [[[[0.0, 1.0]]]]})
    k.spikes["d"] = k.spikes["d"].reshape(1, 1, 1, 2)
    adapter = FeatureAdapter("c", "d", cin=2, cout=1, size=(2,))
    with torch.no_grad():
        adapter.proj.weight.copy_(torch.tensor([[[2.0], [1.0]]]))
    # g(r) = 2 * [1, 0] + 1 * [1, 1] = [3, 1]; target [0, 1]; mean squared error = 9 / 2
    assert call("feature_mse", s, k, module=adapter) == pytest.approx(4.5)


def test_feature_mse_pools_to_the_smaller_spatial_size():
    s = K(spikes={"c": [[[[1.0, 0.0, 1.0, 1.0]]]]})  # T=1, B=1, C=1, L=4
    k = K(spikes={"d": [[[[0.0, 1.0]]]]})  # L=2
    adapter = FeatureAdapter("c", "d", cin=1, cout=1, size=(2,))
    with torch.no_grad():
        adapter.proj.weight.fill_(1.0)
    # pooled student rates [0.5, 1.0] against [0, 1]: mean squared error 0.25 / 2
    assert call("feature_mse", s, k, module=adapter) == pytest.approx(0.125)
