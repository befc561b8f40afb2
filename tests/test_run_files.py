"""A run's files: metrics.json holds only numbers, run.json what produced them, curve.csv the epochs."""

import json

from snnkd.evaluation import run_files


def test_split_keeps_numbers_and_layer_rates_in_metrics_and_the_rest_in_run_json(tmp_path):
    result = {
        "test_accuracy": 0.75,
        "epochs": 2,
        "firing_rate_per_layer": {"l1": 0.1, "l2": 0.3},
        "method": "kd",
        "hparams": {"tau": 4.0},
        "teacher": None,
        "config": {"seed": 0, "train": {"epochs": 2}},
        "history": [{"epoch": 1, "loss": 2.5}, {"epoch": 2, "loss": 1.25}],
        "fused": True,  # a flag, not a metric
    }
    written = run_files.write(tmp_path, result)
    assert [p.name for p in written] == ["run.json", "curve.csv", "metrics.json"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"test_accuracy": 0.75, "epochs": 2, "firing_rate_per_layer": {"l1": 0.1, "l2": 0.3}}
    record = run_files.read_record(tmp_path)
    assert record == {"method": "kd", "hparams": {"tau": 4.0}, "teacher": None, "fused": True,
                      "config": {"seed": 0, "train": {"epochs": 2}}}  # fmt: skip
    assert (tmp_path / "curve.csv").read_text() == "epoch,loss\n1,2.5\n2,1.25\n"
