"""Verdicts on hand-made tables with known answers: TOST, iso-accuracy, the ★ rule, per-layer SynOps."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from handbuilt import handbuilt_input, handbuilt_net
from spikingjelly.activation_based import functional, layer, neuron, surrogate

from snnkd.evaluation.neurobench_metrics import Counter
from snnkd.models import SpikingNet
from snnkd.results import leaderboard as lb
from snnkd.results import stats as S
from snnkd.results import tradeoff
from snnkd.results.layer_ops import fanouts

SEEDS = 5


def test_tost_matches_the_hand_computation():
    from scipy.stats import t as student

    b = np.array([90.0, 91.0, 92.0, 93.0, 94.0])
    d = np.array([0.1, 0.2, 0.3, 0.0, 0.4])  # mean 0.2, sum of squares about the mean 0.10
    se = np.sqrt(0.10 / 4) / np.sqrt(5)
    p_low = student.sf((0.2 + 0.5) / se, 4)  # H0: mean <= -0.5
    p_up = student.cdf((0.2 - 0.5) / se, 4)  # H0: mean >= +0.5
    e = S.equivalence(b + d, b, 0.5)
    assert e.diff == pytest.approx(0.2)
    assert e.p_noninferior == pytest.approx(p_low)
    assert e.p_tost == pytest.approx(max(p_low, p_up))
    assert e.half_width == pytest.approx(student.ppf(0.95, 4) * se)  # the 90 % interval
    assert S.equivalence_verdict(e.p_tost, e.p_noninferior, e.p_worse, e.diff) == S.EQUIVALENT


def test_equivalence_verdicts_on_hand_made_differences():
    b = np.linspace(90.0, 94.0, SEEDS)
    noise = np.array([0.05, -0.05, 0.0, 0.1, -0.1])

    def verdict(d):
        e = S.equivalence(b + d, b, 0.5)
        return S.equivalence_verdict(e.p_tost, e.p_noninferior, e.p_worse, e.diff)

    assert verdict(0.0 + noise) == S.EQUIVALENT
    assert verdict(1.0 + noise) == S.NONINFERIOR  # a clear gain beyond the margin: not "equal"
    assert verdict(-2.0 + noise) == S.WORSE
    assert verdict(np.array([2.0, -2.0, 1.5, -1.5, 0.0])) == S.INCONCLUSIVE  # mean 0, CI far wider than δ
    # exactly constant differences: known without error
    assert verdict(np.full(SEEDS, 0.2)) == S.EQUIVALENT
    assert verdict(np.full(SEEDS, -0.7)) == S.WORSE


def test_wilcoxon_floor_with_five_seeds():
    assert S.min_wilcoxon_p(5) == pytest.approx(0.0625)
    assert not S.wilcoxon_can_reject(5) and S.wilcoxon_can_reject(6)
    from scipy.stats import wilcoxon

    assert wilcoxon([1, 2, 3, 4, 5]).pvalue == pytest.approx(S.min_wilcoxon_p(5))


def test_relative_change_bootstrap_is_reproducible_and_brackets_the_mean():
    ref = np.array([100.0, 110.0, 90.0, 105.0, 95.0])
    m = 0.8 * ref + np.array([1.0, -1.0, 0.5, -0.5, 0.0])
    a, b = S.relative_change_ci(m, ref), S.relative_change_ci(m, ref)
    assert a == b
    assert a.mean == pytest.approx(-20.0)
    assert a.low < -20.0 < a.high
    same = S.relative_change_ci(0.8 * ref, ref)  # every seed -20 %: no spread
    assert (same.low, same.high) == pytest.approx((-20.0, -20.0))


def _runs(points: dict[str, tuple[np.ndarray, np.ndarray, float, float]]) -> pd.DataFrame:
    """(test acc, val acc, spikes factor, synops factor) per method against scratch's numbers."""
    base_spikes = np.array([100.0, 110.0, 90.0, 105.0, 95.0])
    rows = []
    for method, (test, val, fs, fo) in points.items():
        for seed in range(SEEDS):
            rows.append(
                dict(dataset="digits", method=method, seed=seed, test_accuracy=test[seed],
                     val_accuracy=val[seed], spikes_per_sample=fs * base_spikes[seed],
                     synops=fo * 10 * base_spikes[seed], energy_pj=fo * 9 * base_spikes[seed] + 1000)
            )  # fmt: skip
    return pd.DataFrame(rows)


ACC = np.array([0.90, 0.91, 0.92, 0.93, 0.94])
TINY = np.array([0.0005, -0.0005, 0.0, 0.001, -0.001])


def test_iso_accuracy_reports_the_point_in_three_units_and_names_synops_rising():
    runs = _runs(
        {
            "scratch": (ACC, ACC, 1.0, 1.0),
            "logit-reg": (ACC + TINY, ACC + TINY, 0.8, 1.1),  # equal accuracy, -20 % spikes, +10 % SynOps
            "bad": (ACC - 0.03 + TINY, ACC - 0.03, 0.5, 0.5),  # 3 points worse: no iso-accuracy figure
        }
    )
    iso = tradeoff.iso_accuracy(runs, delta_pp=0.5).set_index(["method", "unit"])
    row = iso.loc[("logit-reg", "spikes")]
    assert row["accuracy_verdict"] == S.EQUIVALENT and row["iso_accuracy"]
    assert row["change_pct"] == pytest.approx(-20.0)
    assert iso.loc[("logit-reg", "SynOps"), "change_pct"] == pytest.approx(10.0)
    assert row["note"] == tradeoff.SPIKES_DOWN_SYNOPS_UP
    assert iso.loc[("bad", "spikes"), "accuracy_verdict"] == S.WORSE
    assert not iso.loc[("bad", "spikes"), "iso_accuracy"]


def test_a_sweep_point_is_chosen_on_validation_never_on_test():
    val = pd.DataFrame(
        {
            "scratch": ACC,
            "w1": ACC + TINY,
            "w2": ACC + 2 * TINY,
            "w3": ACC - 0.05 + TINY,  # the largest weight loses 5 points on validation
        }
    )
    assert tradeoff.choose_point(val, ["w1", "w2", "w3"], "scratch", 0.005) == "w2"
    assert tradeoff.choose_point(val, ["w3"], "scratch", 0.005) == "w3"  # a single point is not chosen
    assert tradeoff.choose_point(val, ["w3", "w3"], "scratch", 0.005) is None
    # test accuracy that would favour w3 changes nothing: the choice reads validation only
    runs = _runs(
        {
            "scratch": (ACC, ACC, 1.0, 1.0),
            "w2": (ACC - 0.05, ACC + 2 * TINY, 0.9, 0.9),
            "w3": (ACC + 0.05, ACC - 0.05 + TINY, 0.5, 0.5),
        }
    )
    iso = tradeoff.iso_accuracy(runs, family=lambda m: "act-reg" if m.startswith("w") else m)
    assert set(iso["point"]) == {"w2"}


def test_a_sweep_without_a_non_inferior_point_shows_an_empty_note():
    """The display table names a sweep that has no point to read in its verdict column, and leaves its
    note cell empty (it printed "nan"); a point's note is kept."""
    runs = _runs(
        {
            "scratch": (ACC, ACC, 1.0, 1.0),
            "logit-reg": (ACC + TINY, ACC + TINY, 0.8, 1.1),
            "w1": (ACC - 0.05, ACC - 0.05, 0.5, 0.5),  # both points of the act-reg sweep lose 5 points
            "w2": (ACC - 0.05 + TINY, ACC - 0.05 + TINY, 0.4, 0.4),
        }
    )
    iso = tradeoff.iso_accuracy(runs, family=lambda m: "act-reg" if m.startswith("w") else m)
    assert iso.set_index("method").loc["act-reg", "note"] == ""  # the row has a note, an empty one
    table = tradeoff.iso_frames(iso)["digits"].set_index("method")
    assert table.loc["act-reg", "accuracy vs scratch"] == "no point non-inferior on validation"
    assert table.loc["act-reg", "note"] == ""
    assert table.loc["logit-reg", "note"] == tradeoff.SPIKES_DOWN_SYNOPS_UP
    assert "nan" not in table.to_markdown(index=False, disable_numparse=True)


def test_star_needs_significance_against_scratch():
    noise = np.array([0.0, 0.01, -0.01, 0.02, -0.02])
    acc = {"scratch": 0.90 + noise, "best-by-noise": 0.901 + noise + [0.01, -0.01, 0.0, 0.005, -0.005]}
    spikes = {"scratch": 100.0 + 10 * noise, "best-by-noise": 99.0 + 10 * noise + [3, -3, 2, -2, 0]}
    plain = S.noise_aware_front(acc, spikes)
    assert plain["best-by-noise"]  # best mean on both axes: the old rule marked it by default
    gated = S.noise_aware_front(acc, spikes, beats_reference={"best-by-noise": False})
    assert not gated["best-by-noise"] and not gated["scratch"]
    # a real cut in spikes against scratch keeps the star; scratch itself never gets one
    spikes["frugal"] = 60.0 + 10 * noise
    acc["frugal"] = 0.90 + noise
    gated = S.noise_aware_front(acc, spikes, beats_reference={"frugal": True, "best-by-noise": False})
    assert gated["frugal"] and not gated["scratch"] and not gated["best-by-noise"]


def test_leaderboard_star_and_accuracy_verdict_follow_the_rules():
    runs = _runs(
        {
            "scratch": (ACC, ACC, 1.0, 1.0),
            "logit-reg": (ACC + TINY, ACC, 0.7, 1.1),
            "noise": (ACC + TINY[::-1], ACC, 0.999, 1.0),
        }
    )
    runs["spikes_per_sample"] += np.where(runs["method"] == "noise", np.tile([2, -2, 1, -1, 0], 3), 0)
    for col in ("firing_rate", "weight_bits", "model_size_bits", "epochs"):
        runs[col] = 1.0
    t = lb.aggregate(runs, delta_pp=0.5).set_index("method")
    assert t.loc["logit-reg", "pareto"] and t.loc["logit-reg", "acc_verdict"] == S.EQUIVALENT
    assert not t.loc["noise", "pareto"] and not t.loc["scratch", "pareto"]
    frame = lb.display_frames(t.reset_index())["digits"]
    assert "p (Wilcoxon)" not in frame.columns  # 5 seeds: it cannot reach 0.05


def _two_conv_net() -> SpikingNet:
    """conv(1->2) on 4x4 -> LIF (32 neurons) -> 2x max-pool -> conv(2->3) on 2x2 -> LIF (12) -> head (5).

    By hand: a pooled position of the first LIF feeds every output of the 3x3 padded conv on 2x2,
    3 channels x 4 positions = 12 synapses; the second LIF's neurons each feed the 5 head outputs.
    """

    def lif():
        return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan())

    features = torch.nn.Sequential(
        OrderedDict(
            conv1=layer.Conv2d(1, 2, 3, padding=1, bias=False),
            lif1=lif(),
            pool1=layer.MaxPool2d(2),
            conv2=layer.Conv2d(2, 3, 3, padding=1, bias=False),
            lif2=lif(),
            flatten=layer.Flatten(),
        )
    )
    net = SpikingNet(features, layer.Linear(12, 5), None, spec={})
    return net


def test_fanouts_of_a_hand_built_network():
    got = fanouts(_two_conv_net(), (1, 4, 4))
    assert got["features.lif1"].neurons == 32 and got["features.lif1"].fan_out == pytest.approx(12.0)
    assert got["features.lif1"].targets == ("features.conv2",)
    assert got["features.lif2"].neurons == 12 and got["features.lif2"].fan_out == pytest.approx(5.0)
    assert got["features.lif2"].targets == ("head",)


def test_per_layer_synops_equal_the_measured_count_without_pooling():
    """The hand-built LIF layer (tests/handbuilt.py) spikes 4 + 2 = 6 times in T = 4 into a 2-output head."""
    net = handbuilt_net()
    with torch.no_grad():
        net.head.weight.fill_(1.0)  # every synapse non-zero: spikes x fan-out is exact
    with Counter(net) as counter:
        net(handbuilt_input())
        counter.flush(1)
        measured = counter.result()
    functional.reset_net(net)
    layers = fanouts(net, (3,))
    assert layers["features.lif"].fan_out == 2.0
    rate = measured["firing_rate_per_layer"]["features.lif"]
    assert rate == pytest.approx(6 / (4 * 3))
    runs = pd.DataFrame(
        [
            {"dataset": "hand", "method": m, "seed": 0, "spikes_per_sample": measured["spikes_per_sample"],
             "synops": measured["synops"], "firing_rate/features.lif": rate}
            for m in ("scratch", "other")
        ]
    )  # fmt: skip
    table = tradeoff.layer_activity(runs, {"hand": layers}).set_index("method")
    assert table.loc["other", "spikes"] == pytest.approx(6.0)
    assert table.loc["other", "synops_attributed"] == pytest.approx(12.0) == measured["synops"]
    assert table.loc["other", "spikes_change_pct"] == 0.0
