"""Leaderboard run selection and per-layer rates on hand-made run tables (statistics: test_stats.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from snnkd.results import leaderboard as lb


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


def test_layer_rates_mean_over_seeds():
    runs = runs_table()
    runs["firing_rate/features.lif1"] = runs["firing_rate"]
    rates = lb.layer_rates(runs).set_index(["dataset", "method", "layer"])["firing_rate"]
    assert rates[("digits", "kd", "features.lif1")] == pytest.approx(0.02)


def test_published_run_files_rebuild_the_committed_leaderboard(monkeypatch):
    """``snnkd leaderboard --from-files``: the committed run files give the committed table, byte for byte."""
    from snnkd.pipeline import suite as suite_mod
    from snnkd.pipeline import suites

    root = Path(__file__).resolve().parents[1]
    committed = root / "results" / "default" / "leaderboard.csv"
    if not committed.is_file():
        pytest.skip("no committed leaderboard")
    monkeypatch.chdir(root)
    s = suites.load(root / "params.yaml", "default")
    runs, left = lb.select(lb.published_runs(s), lb.wanted_runs(s))
    assert left.empty
    assert len(runs) == len(s.datasets) * len(s.methods) * len(s.seeds)
    first = runs.iloc[0]
    metrics = json.loads(
        (suite_mod.run_dir(s.suite, first.dataset, first.method, 0) / "metrics.json").read_text()
    )
    assert first.test_accuracy == metrics["test_accuracy"]
    assert any(c.startswith(lb.LAYER) for c in runs.columns)
    table = lb.aggregate(runs)
    assert table.to_csv(index=False, float_format="%.6g") == committed.read_text()


def test_evidence_tables_follow_from_committed_run_files(tmp_path):
    """benchmarks/evidence_tables.py rebuilds the committed evidence leaderboard and claims."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    script = root / "benchmarks" / "evidence_tables.py"
    spec = importlib.util.spec_from_file_location("evidence_tables", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path)
    for name in ("leaderboard.csv", "leaderboard.md", "claims.md"):
        assert (tmp_path / name).read_text() == (root / "results" / "evidence" / name).read_text(), name


def test_the_header_states_the_steps_a_datasets_budget_sets(monkeypatch):
    """benchmarks/evidence-recordings.yaml runs nmnist-small at T = 5 (its budget) and fsdd at the
    suite's T = 4: each dataset's header says the T its committed runs trained with."""
    from snnkd.pipeline import suite as suite_mod

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    s = suite_mod.load(root / "benchmarks" / "evidence-recordings.yaml", full=False)
    runs = lb.published_runs(s)
    if runs.empty:
        pytest.skip("no committed evidence-recordings runs")
    lines = lb.context_lines(s, runs)
    for dataset, steps in (("fsdd", 4), ("nmnist-small", 5)):
        trained = {
            json.loads(p.read_text())["config"]["T"]
            for p in (root / "results" / "evidence-recordings" / "runs" / dataset).glob("*/seed*/run.json")
        }
        assert trained == {steps}
        assert f"; T = {steps}; seeds" in lines[dataset][0], lines[dataset][0]
