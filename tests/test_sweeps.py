"""Sweeps: a suite's `sweeps` expand into variants with plain names, exact values and log spacing; the plan
gives each its stages; curves list every declared point; layer order does not depend on the source."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from snnkd.errors import ConfigError
from snnkd.pipeline import plan
from snnkd.pipeline import suite as S
from snnkd.pipeline.sweeps import NAME

ROOT = Path(__file__).resolve().parents[1]


def _suite_data(sweeps: dict) -> dict:
    data = yaml.safe_load((ROOT / "benchmarks" / "smoke.yaml").read_text())
    data["methods"].update({"logit-reg": {"hparams": {"lambda_z": 0.01}}, "act-reg": {}})
    data["groups"]["none"] += ["logit-reg", "act-reg"]
    data["sweeps"] = sweeps
    return data


def _suite(sweeps: dict) -> S.Suite:
    return S.check(S.Suite.model_validate(_suite_data(sweeps)))


SWEEPS = {
    "logit-reg": {"lambda_z": {"grid": "log", "points": 5}},  # the plugin's range [1e-4, 1]
    "act-reg": {"lambda_a": {"grid": "log", "points": 4, "low": 0.001, "high": 1.0}},
    "kd": {"alpha": {"values": [0.9, 0.1, 0.5]}},
}


def test_sweeps_expand_into_plain_names_with_exact_values_in_increasing_order():
    suite = _suite(SWEEPS)
    variants = suite.variants()
    assert list(variants) == [
        "logit-reg.lambda_z-0.0001", "logit-reg.lambda_z-0.001", "logit-reg.lambda_z-0.01",
        "logit-reg.lambda_z-0.1", "logit-reg.lambda_z-1.0",
        "act-reg.lambda_a-0.001", "act-reg.lambda_a-0.01", "act-reg.lambda_a-0.1", "act-reg.lambda_a-1.0",
        "kd.alpha-0.1", "kd.alpha-0.5", "kd.alpha-0.9",
    ]  # fmt: skip
    assert all(NAME.match(name) for name in variants)
    for name, v in variants.items():  # the name is the value, exactly
        assert float(name.rsplit("-", 1)[1]) == v.value
    lam = [v.value for v in variants.values() if v.method == "logit-reg"]
    assert lam == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    act = [v.value for v in variants.values() if v.method == "act-reg"]
    assert act == [0.001, 0.01, 0.1, 1.0]
    assert suite.run_names()[: len(suite.methods)] == list(suite.methods)


def test_a_log_grid_is_geometric_to_three_significant_digits():
    suite = _suite({"logit-reg": {"lambda_z": {"grid": "log", "points": 4}}})
    values = [v.value for v in suite.variants().values()]
    # 10^(-4 + 4 i / 3): 1e-4, 10^-2.667 = 0.0021544, 10^-1.333 = 0.046416, 1
    assert values == [1e-4, 0.00215, 0.0464, 1.0]
    ratios = np.diff(np.log10(values))
    assert ratios == pytest.approx([4 / 3] * 3, abs=2e-3)
    lin = _suite({"kd": {"alpha": {"grid": "linear", "points": 3}}}).variants()
    assert [v.value for v in lin.values()] == [0.0, 0.5, 1.0]


def test_a_variant_runs_its_method_with_the_point_fixed_and_the_plan_gives_it_stages():
    suite = _suite(SWEEPS)
    cfg = suite.method_config("digits", "logit-reg.lambda_z-0.001", 1)
    assert cfg["method"] == "logit-reg" and cfg["hparams"] == {"lambda_z": 0.001} and cfg["seed"] == 1
    kd = suite.method_config("digits", "kd.alpha-0.9", 0)
    assert kd["hparams"] == {"tau": 4.0, "alpha": 0.9}  # the suite's tau, the point's alpha
    assert kd["teacher"] == f"results/{suite.suite}/networks/digits/teacher/checkpoint.pt"
    assert suite.group_of("kd.alpha-0.9") == "teacher"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        runs = plan.build({suite.suite: suite})["runs"]
    runs = {k.removeprefix(f"{suite.suite}-"): v for k, v in runs.items()}
    assert runs["digits-logit-reg.lambda_z-0.001"] == {
        "suite": suite.suite, "dataset": "digits", "method": "logit-reg.lambda_z-0.001", "entry": "logit-reg",
        "learns_from": "data/prepared/digits/splits.json",
        "plugin": "methods/logit_reg.py", "plugin2": "methods/logit_reg.py",
    }  # fmt: skip
    assert (
        runs["digits-kd.alpha-0.1"]["learns_from"]
        == f"results/{suite.suite}/networks/digits/teacher/checkpoint.pt"
    )
    assert runs["digits-kd"]["entry"] == "kd"
    assert len(runs) == len(suite.methods) + 12


@pytest.mark.parametrize(
    ("sweeps", "message"),
    [
        ({"quant": {"lambda_z": {"values": [0.1]}}}, "sweeps.quant: not one of the suite's methods"),
        ({"kd": {"alpha": {"values": [0.1]}, "tau": {"values": [2.0]}}}, "sweeps.kd: sweep exactly one"),
        ({"kd": {"gamma": {"values": [0.1]}}}, "sweeps.kd.gamma: not a hyper-parameter of 'kd'"),
        ({"kd": {"alpha": {"values": [0.5, 2.0]}}}, "sweeps.kd.hparams.alpha: 2.0 is outside [0.0, 1.0]"),
        ({"kd": {"alpha": {"grid": "log", "points": 3}}}, "sweeps.kd.alpha: a log grid needs low > 0"),
        ({"kd": {"alpha": {"values": [0.5, 0.5]}}}, "sweeps.kd.alpha: the point 0.5 is listed twice"),
        ({"kd": {"alpha": {"grid": "log"}}}, "sweeps.kd.alpha: expected `values: [...]` or `grid"),
        ({"kd": {"alpha": {"grid": "cubic", "points": 3}}}, "sweeps.kd.alpha.grid: Input should be"),
        ({"kd": {"alpha": {"values": [0.1], "points": 3}}}, "give either `values` or a `grid`"),
    ],
)
def test_a_bad_sweep_names_its_key(tmp_path, sweeps, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(_suite_data(sweeps)))
    with pytest.raises(ConfigError) as err:
        S.load(path)
    assert message in str(err.value) and str(err.value).startswith(str(path))


def test_tune_seeds_cannot_exceed_the_suites_seeds_and_stays_out_of_dumps(tmp_path):
    data = _suite_data({})
    assert "seeds" not in S.parse(data).tune.model_dump()  # additive: the report shows what it showed
    data["tune"]["seeds"] = 3
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="tune.seeds: 3 is more than the suite's 2 seeds"):
        S.load(path)


def test_curves_list_every_declared_point_and_a_missing_one_as_not_run():
    from snnkd.results import tradeoff

    suite = _suite({"logit-reg": {"lambda_z": {"values": [0.001, 0.1]}}})
    rows = []
    for method, acc, spikes in [("scratch", 0.90, 100.0), ("logit-reg.lambda_z-0.001", 0.91, 80.0)]:
        for seed, jitter in enumerate((-0.01, 0.01)):
            numbers = dict(test_accuracy=acc + jitter, spikes_per_sample=spikes, synops=10 * spikes)
            rows.append(dict(dataset="digits", method=method, seed=seed, energy_pj=1e3 * spikes, **numbers))
    curves = tradeoff.sweep_curves(pd.DataFrame(rows), suite.variants(), ["digits"])
    assert list(curves["point"]) == ["scratch", "logit-reg.lambda_z-0.001", "logit-reg.lambda_z-0.1"]
    assert list(curves["status"]) == ["", "", "not run"]
    point = curves.iloc[1]
    assert point["test_accuracy_mean"] == pytest.approx(0.91) and point["n_seeds"] == 2
    # two seeds, 0.90 and 0.92: mean ± t_{0.975, 1} * s / sqrt(2) = 0.91 ± 12.706 * 0.01
    assert point["test_accuracy_ci_high"] == pytest.approx(0.91 + 12.7062 * 0.01, rel=1e-4)
    view = tradeoff.curve_frames(curves)["digits"]
    assert list(view["seeds"]) == ["2", "2", "not run"]
    assert view.iloc[2]["test acc % [95% CI]"] == "–"
    assert list(view["sweep"])[1:] == ["logit-reg (lambda_z sweep)"] * 2
    assert math.isnan(curves.iloc[2]["spikes_per_sample_mean"])


def test_firing_rate_figure_follows_the_network_order_not_the_column_order():
    from snnkd.results import plots

    rates = {"features.lif2": 0.1, "features.lif10": 0.3, "features.lif1": 0.2}
    rows = [
        dict(
            dataset="digits",
            method="scratch",
            seed=s,
            **{f"firing_rate/{k}": v + s / 100 for k, v in rates.items()},
        )
        for s in range(2)
    ]
    runs = pd.DataFrame(rows)
    order = {"digits": ["features.lif1", "features.lif2", "features.lif10"]}
    reversed_cols = runs[list(reversed(runs.columns))]
    one = plots.png(plots.firing_rates(runs, order=order))
    two = plots.png(plots.firing_rates(reversed_cols, order=order))
    assert one == two
    fig = plots.firing_rates(runs, order=order)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["features.lif1", "features.lif2", "features.lif10"]
    plots.png(fig)
