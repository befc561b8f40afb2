"""Leaderboard run selection and per-layer rates on hand-made run tables (statistics: test_stats.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

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


PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
COMMITTED_SUITES = yaml.safe_load(PARAMS.read_text())["plan"]["suites"]


@pytest.mark.parametrize("name", COMMITTED_SUITES)  # every suite of params.yaml with committed results
def test_a_suites_tables_from_files_are_the_ones_the_pipeline_built_from_mlflow(tmp_path, monkeypatch, name):
    """The pipeline built each suite's committed leaderboard and report from MLflow
    (``leaderboard@<suite>``); built again from the committed run files alone (``--from-files``, a
    clone without a store) they are the same bytes, and so is the claims table (``claims@<suite>``)."""
    from snnkd.cli.main import main
    from snnkd.pipeline import suites

    root = Path(__file__).resolve().parents[1]
    folder = root / "results" / name
    if not (folder / "leaderboard.md").is_file():
        pytest.skip(f"no committed results/{name}")
    monkeypatch.chdir(root)
    s = suites.load(root / "params.yaml", name)
    lb.build(s, tmp_path, log=False, from_files=True)
    for file in ("leaderboard.csv", "neurobench.csv"):
        assert (tmp_path / file).read_bytes() == (folder / file).read_bytes(), file
    # what only a store holds: the runs it left out (killed, duplicate, other suites' runs) and the
    # commit of the checkout the report was built in; everything else is the same bytes
    left_out = re.compile(r"Runs left out: \d+\.\n(- [^\n]*\n)*")
    commit = re.compile(r"<th>git commit</th><td>[0-9a-f]{40}</td>| \(\d+ left out\)")
    for file, source_only in (("leaderboard.md", left_out), ("report.html", commit)):
        built, committed = (source_only.sub("", (f / file).read_text()) for f in (tmp_path, folder))
        assert built == committed, file
    assert "Runs left out: 0.\n" in (tmp_path / "leaderboard.md").read_text()  # one run per cell in files
    stage = yaml.safe_load((root / "params.yaml").read_text())["plan"]["claims"].get(name)
    if stage is not None:  # the claims@<suite> stage's command, into tmp_path
        out = tmp_path / "claims.md"
        argv = ["claims", "--results", f"results/{name}", "--claims", stage["claims"]]
        assert main([*argv, "--margin-pp", str(stage["margin_pp"]), "--out", str(out)]) == 0
        assert out.read_bytes() == (folder / "claims.md").read_bytes()


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
