"""Statistics of a verdict on hand-made numbers with known answers (snnkd.results.stats,
leaderboard.aggregate)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from snnkd.results import leaderboard as lb
from snnkd.results import stats as S


def test_mean_ci_is_the_t_interval():
    # mean 3, s = sqrt(2.5), se = s / sqrt(5) = 0.70711, t_{0.975, 4} = 2.776445
    ci = S.mean_ci([1, 2, 3, 4, 5])
    assert ci.mean == 3 and ci.n == 5
    assert ci.low == pytest.approx(3 - 2.776445 * 0.7071068, abs=1e-5)
    assert ci.high == pytest.approx(3 + 2.776445 * 0.7071068, abs=1e-5)
    one = S.mean_ci([0.5])
    assert one.mean == 0.5 and math.isnan(one.low)


def test_paired_difference_t_and_wilcoxon():
    a = [0.90, 0.91, 0.92, 0.93, 0.94]
    b = [0.80, 0.82, 0.84, 0.86, 0.88]
    c = S.paired(a, b)
    # d = 0.10 .. 0.06: mean 0.08, s = 0.0158114, se = 0.0070711, t = 11.3137 on 4 df
    assert c.diff == pytest.approx(0.08)
    assert c.low == pytest.approx(0.08 - 2.776445 * 0.0070711, abs=1e-6)
    assert c.high == pytest.approx(0.08 + 2.776445 * 0.0070711, abs=1e-6)
    assert c.p_t == pytest.approx(0.000345, abs=2e-5)
    # all five differences positive: exact two-sided signed-rank p = 2 / 2^5
    assert c.p_wilcoxon == pytest.approx(0.0625)


def test_pairing_beats_an_unpaired_test_when_seeds_share_their_luck():
    seed_effect = np.array([0.00, 0.05, -0.04, 0.08, -0.06])
    a, b = 0.90 + seed_effect + 0.01, 0.90 + seed_effect
    assert S.paired(a, b).p_t == 0.0  # the same +1 point on every seed
    from scipy import stats

    assert stats.ttest_ind(a, b).pvalue > 0.5  # unpaired, the seed-to-seed spread hides it


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, 1 x 0.04 -> max(0.06, 0.04) = 0.06
    assert list(S.holm([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    out = S.holm([0.02, float("nan")])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1])  # NaN is not in the family


def test_significance_ranks_group_what_the_data_cannot_separate():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.01, 5)
    samples = {
        "best": 0.95 + seed_effect + [0.001, -0.001, 0.002, 0.0, -0.002],
        "mid-a": 0.90 + seed_effect + [0.004, -0.003, 0.001, -0.002, 0.0],
        "mid-b": 0.90 + seed_effect + [-0.002, 0.003, 0.0, 0.002, -0.003],
    }
    ranks = S.significance_ranks(samples)
    assert ranks == {"best": 1, "mid-a": 2, "mid-b": 2}


def test_noise_aware_front_marks_only_real_trade_offs():
    noise = np.array([0.0, 0.01, -0.01, 0.02, -0.02])
    acc = {
        "accurate": 0.95 + noise,
        "frugal": 0.90 + noise,  # clearly less accurate, clearly fewer spikes: a real trade-off
        "tiny-edge": 0.90 + noise + [0.01, -0.02, 0.02, -0.01, 0.001],  # more accurate than frugal by noise
    }
    spikes = {
        "accurate": 100.0 + 10 * noise,
        "frugal": 50.0 + 10 * noise,
        "tiny-edge": 50.5 + 10 * noise,  # a hair more spikes than frugal
    }
    front = S.noise_aware_front(acc, spikes)
    assert front["accurate"] and front["frugal"]
    assert not front["tiny-edge"]  # below `accurate` on accuracy, no significant spike advantage
    means = S.pareto_means(np.array([0.9, 0.8, 0.85, 0.9]), np.array([10.0, 5.0, 20.0, 10.0]))
    assert list(means) == [True, True, False, True]


def _runs(acc: dict[str, list[float]], spikes: dict[str, float], dataset: str = "digits") -> pd.DataFrame:
    rows = []
    for method, values in acc.items():
        for seed, a in enumerate(values):
            rows.append(
                dict(dataset=dataset, method=method, seed=seed, test_accuracy=a,
                     spikes_per_sample=spikes[method] + seed, firing_rate=0.1, synops=1.0,
                     energy_pj=1.0, weight_bits=32, model_size_bits=100, epochs=20 + seed)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_aggregate_paired_differences_holm_and_groups():
    runs = _runs(
        {
            "scratch": [0.80, 0.82, 0.84, 0.86, 0.88],
            "kd": [0.90, 0.91, 0.92, 0.93, 0.94],
            "act-reg": [0.81, 0.81, 0.85, 0.85, 0.89],
        },
        {"scratch": 100.0, "kd": 80.0, "act-reg": 50.0},
    )
    t = lb.aggregate(runs).set_index("method")
    assert t.loc["kd", "delta_acc"] == pytest.approx(0.08)
    acc = runs.pivot(index="seed", columns="method", values="test_accuracy")
    p_kd = S.paired(acc["kd"], acc["scratch"]).p_t
    p_act = S.paired(acc["act-reg"], acc["scratch"]).p_t
    assert t.loc["kd", "p_acc"] == pytest.approx(p_kd)
    assert t.loc["kd", "p_acc_holm"] == pytest.approx(min(1.0, 2 * min(p_kd, p_act)))  # Holm over 2 methods
    assert t.loc["kd", "significant_acc"] and not t.loc["act-reg", "significant_acc"]
    assert t.loc["kd", "delta_spikes"] == pytest.approx(-20.0 / 102.0 * 100)  # % of scratch's mean
    assert t.loc["kd", "epochs_mean"] == 22 and t.loc["kd", "epochs_max"] == 24
    assert t.loc["kd", "rank"] == 1 and t.loc["scratch", "rank"] == t.loc["act-reg", "rank"] == 2
    assert t.loc["kd", "test_acc_ci_low"] < 0.92 < t.loc["kd", "test_acc_ci_high"]


def test_chance_level_methods_are_flagged_not_ranked():
    runs = _runs(
        {"scratch": [0.100, 0.101, 0.099, 0.100, 0.102], "kd": [0.11, 0.10, 0.10, 0.12, 0.10]},
        {"scratch": 0.0, "kd": 0.0},
    )
    t = lb.aggregate(runs).set_index("method")
    assert t["at_chance"].all() and t["rank"].isna().all() and not t["pareto"].any()
    text = lb.to_markdown(lb.aggregate(runs), pd.DataFrame({"reason": []}), "smoke")
    assert text.count("at chance") == 2 and "★" not in text.split("## digits")[1]


def test_markdown_shows_cis_paired_deltas_and_context():
    runs = _runs(
        {"scratch": [0.80, 0.82, 0.84, 0.86, 0.88], "kd": [0.90, 0.91, 0.92, 0.93, 0.94]},
        {"scratch": 100.0, "kd": 80.0},
    )
    text = lb.to_markdown(lb.aggregate(runs), pd.DataFrame({"reason": []}), "unit", {"digits": ["budget x"]})
    assert "+8.00 [+6.04, +9.96]" in text  # paired delta and its CI in points
    assert "92.00 [90.04, 93.96]" in text
    assert "- budget x" in text and "Runs left out: 0." in text
