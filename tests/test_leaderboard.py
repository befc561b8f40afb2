"""Leaderboard aggregation on hand-made run tables: mean, std, delta, t-test, Pareto front, selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from snnkd import leaderboard as lb


def runs_table() -> pd.DataFrame:
    """Three methods x three seeds on one dataset, two on another; numbers chosen by hand."""
    rows = []
    acc = {"scratch": [0.80, 0.82, 0.84], "kd": [0.90, 0.91, 0.92], "act-reg": [0.79, 0.80, 0.81]}
    spikes = {"scratch": 100.0, "kd": 80.0, "act-reg": 50.0}
    energy = {"scratch": 1000.0, "kd": 1200.0, "act-reg": 500.0}
    for method, accs in acc.items():
        for seed, a in enumerate(accs):
            rows.append(
                dict(
                    dataset="digits",
                    method=method,
                    seed=seed,
                    test_accuracy=a,
                    spikes_per_sample=spikes[method] + seed,
                    firing_rate=0.01 * (seed + 1),
                    synops=10.0 * (seed + 1),
                    energy_pj=energy[method] + 10 * seed,
                    weight_bits=32,
                    model_size_bits=1000,
                )  # fmt: skip
            )
    for method, a, e in [("scratch", 0.5, 100.0), ("kd", 0.4, 200.0)]:
        rows.append(
            dict(dataset="mnist1d", method=method, seed=0, test_accuracy=a, spikes_per_sample=10.0,
                 firing_rate=0.1, synops=5.0, energy_pj=e, weight_bits=4, model_size_bits=100)
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_aggregate_mean_std_delta_and_spike_change():
    table = lb.aggregate(runs_table()).set_index(["dataset", "method"])
    kd = table.loc[("digits", "kd")]
    assert kd["n_seeds"] == 3
    assert kd["test_acc_mean"] == pytest.approx(0.91)
    assert kd["test_acc_std"] == pytest.approx(np.std([0.90, 0.91, 0.92], ddof=1))
    assert kd["delta_acc"] == pytest.approx(0.91 - 0.82)
    assert kd["spikes_change_pct"] == pytest.approx(100 * (81.0 - 101.0) / 101.0)
    assert kd["energy_pj"] == pytest.approx(1210.0)
    assert table.loc[("digits", "scratch"), "delta_acc"] == 0
    assert table.loc[("mnist1d", "kd"), "delta_acc"] == pytest.approx(-0.1)
    assert np.isnan(table.loc[("mnist1d", "kd"), "test_acc_std"])  # one seed: no std


def test_ranked_by_accuracy_within_each_dataset():
    table = lb.aggregate(runs_table())
    digits = table[table["dataset"] == "digits"]
    assert list(digits["method"]) == ["kd", "scratch", "act-reg"]
    assert list(digits["rank"]) == [1, 2, 3]
    assert list(table[table["dataset"] == "mnist1d"]["method"]) == ["scratch", "kd"]


def test_welch_t_test_against_scratch():
    runs = runs_table()
    table = lb.aggregate(runs).set_index(["dataset", "method"])
    want = stats.ttest_ind([0.90, 0.91, 0.92], [0.80, 0.82, 0.84], equal_var=False).pvalue
    assert table.loc[("digits", "kd"), "p_value"] == pytest.approx(want)
    assert table.loc[("digits", "kd"), "p_value"] < 0.05  # a real gain
    assert table.loc[("digits", "act-reg"), "p_value"] > 0.05  # noise
    assert np.isnan(table.loc[("digits", "scratch"), "p_value"])
    assert np.isnan(table.loc[("mnist1d", "kd"), "p_value"])  # one seed each


def test_pareto_membership():
    table = lb.aggregate(runs_table()).set_index(["dataset", "method"])["pareto"]
    # digits: kd is the most accurate, act-reg the cheapest; scratch (0.82, 1010 pJ) is dominated by
    # neither act-reg (0.80, 510 pJ) nor kd (0.91, 1210 pJ).
    assert table[("digits", "kd")] and table[("digits", "act-reg")] and table[("digits", "scratch")]
    assert table[("mnist1d", "scratch")] and not table[("mnist1d", "kd")]  # less accurate and dearer
    front = lb.pareto_front(np.array([0.9, 0.8, 0.85, 0.9]), np.array([10.0, 5.0, 20.0, 10.0]))
    assert list(front) == [True, True, False, True]  # ties stay on the front; (0.85, 20) is dominated


def test_select_keeps_latest_finished_and_says_why_others_left():
    base = runs_table().head(3).assign(run_key=["a", "b", "c"])
    base["status"], base["end_time"], base["run_id"] = (
        "FINISHED",
        pd.Timestamp("2026-01-01"),
        ["r0", "r1", "r2"],
    )
    failed = base.iloc[[0]].assign(status="FAILED", run_id="f0")
    older = base.iloc[[1]].assign(end_time=pd.Timestamp("2025-01-01"), run_id="o1", test_accuracy=0.1)
    stale = base.iloc[[2]].assign(run_key="old", end_time=pd.Timestamp("2027-01-01"), run_id="s2")
    runs = pd.concat([base, failed, older, stale], ignore_index=True)
    chosen, left = lb.select(runs)
    assert sorted(chosen["run_id"]) == ["r0", "r1", "s2"]  # without keys: the latest finished
    wanted = {("digits", "scratch", 0): "a", ("digits", "scratch", 1): "b", ("digits", "scratch", 2): "c"}
    chosen, left = lb.select(runs, wanted)
    assert sorted(chosen["run_id"]) == ["r0", "r1", "r2"]
    reasons = dict(zip(left["run_id"], left["reason"], strict=True))
    assert reasons == {
        "f0": "status FAILED",
        "o1": "superseded (older duplicate)",
        "s2": "superseded (other config)",
    }


def test_markdown_lists_every_method_and_left_out_runs():
    table = lb.aggregate(runs_table())
    left = pd.DataFrame({"reason": ["status FAILED", "status FAILED"]})
    text = lb.to_markdown(table, left, "unit")
    assert "## digits" in text and "## mnist1d" in text
    assert "91.00 ± 1.00" in text
    assert "+9.00" in text  # delta in percentage points, signed
    assert "Runs left out: 2." in text and "- status FAILED: 2" in text


def test_layer_rates_mean_over_seeds():
    runs = runs_table()
    runs["firing_rate/features.lif1"] = runs["firing_rate"]
    rates = lb.layer_rates(runs).set_index(["dataset", "method", "layer"])["firing_rate"]
    assert rates[("digits", "kd", "features.lif1")] == pytest.approx(0.02)
