"""Issue 21, item 11: ``snnkd leaderboard --from-files`` on damaged run files.

The committed digits runs of ``scratch`` and ``kd`` (5 seeds each) are copied into a
temporary checkout; one file of ``kd`` seed 3 is then damaged by hand. A damaged run is left
out and listed (the dataset's lines of leaderboard.md, the count of runs left out, stderr);
its method shows the 4 seeds its statistics are computed over. The files are written all
together or not at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from snnkd.cli.main import main
from snnkd.pipeline import suite as suite_mod
from snnkd.results import leaderboard as lb

REPO = Path(__file__).resolve().parents[1]
METHODS = ("scratch", "kd")
DAMAGED = ("digits", "kd", 3)
OUTPUTS = ("firing_rates.png", "leaderboard.csv", "leaderboard.md", "neurobench.csv", "pareto.png")
OUTPUTS += ("report.html",)  # the last one renamed into place


def _suite_data() -> dict:
    """The default suite cut down to digits, scratch and kd (no plan: the leaderboard needs none)."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())["suites"]["default"]
    data["datasets"] = ["digits"]
    data["budgets"] = {"digits": data["budgets"]["digits"]}
    for net in data["networks"].values():
        net["budgets"] = {"digits": net["budgets"]["digits"]}
    data["methods"] = {m: data["methods"][m] for m in METHODS}
    data["groups"] = {g: [m for m in names if m in METHODS] for g, names in data["groups"].items()}
    return data


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A temporary checkout holding the committed digits run files of scratch and kd."""
    for method in METHODS:
        runs = "results/default/runs/digits"
        shutil.copytree(REPO / runs / method, tmp_path / runs / method)
    shutil.copytree(REPO / "results/default/networks/digits", tmp_path / "results/default/networks/digits",
                    ignore=shutil.ignore_patterns("*.pt"))  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_suite_data()))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _damaged_folder() -> Path:
    return suite_mod.run_dir("default", *DAMAGED)


def _edit_metrics(**values) -> None:
    path = _damaged_folder() / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(values)
    path.write_text(json.dumps(metrics))


def _write(name: str, data: bytes) -> None:
    (_damaged_folder() / name).write_bytes(data)


def _truncate(name: str) -> None:
    path = _damaged_folder() / name
    path.write_bytes(path.read_bytes()[:57])


DAMAGE = {
    "metrics.json truncated": (lambda: _truncate("metrics.json"), "metrics.json: not valid JSON"),
    "metrics.json empty": (lambda: _write("metrics.json", b""), "metrics.json: not valid JSON"),
    "metrics.json not JSON": (
        lambda: _write("metrics.json", b"accuracy: high\n"),
        "metrics.json: not valid JSON",
    ),
    "metrics.json a list": (lambda: _write("metrics.json", b"[0.9]"), "metrics.json: must hold an object"),
    "metrics.json not UTF-8": (lambda: _write("metrics.json", b'{"a": "\xff"}'), "metrics.json: not UTF-8"),
    "run.json truncated": (lambda: _truncate("run.json"), "run.json: not valid JSON"),
    "run.json empty": (lambda: _write("run.json", b""), "run.json: not valid JSON"),
    "identity of the wrong type": (
        lambda: _write("run.json", json.dumps({"identity": 5, "teacher": None}).encode()),
        "run.json: identity: 5 is not a run identity",
    ),
    "accuracy 7.5": (lambda: _edit_metrics(test_accuracy=7.5), "test_accuracy: 7.5 is outside [0, 1]"),
    "accuracy a string": (
        lambda: _edit_metrics(test_accuracy="0.99"),
        "test_accuracy: '0.99' is not a finite",
    ),
    "accuracy NaN": (lambda: _edit_metrics(test_accuracy=float("nan")), "test_accuracy: nan is not a finite"),
    "accuracy null": (lambda: _edit_metrics(test_accuracy=None), "test_accuracy: None is not a finite"),
    "accuracy missing": (lambda: _drop("test_accuracy"), "test_accuracy: missing"),
    "negative spikes": (lambda: _edit_metrics(spikes_per_sample=-3.0), "spikes_per_sample: -3.0 is outside"),
    "infinite synops": (lambda: _edit_metrics(synops=float("inf")), "synops: inf is not a finite number"),
    "layer rate above 1": (
        lambda: _edit_metrics(firing_rate_per_layer={"features.lif1": 1.5}),
        "firing_rate_per_layer.features.lif1: 1.5 is outside [0, 1]",
    ),
    "curve.csv garbage": (lambda: _write("curve.csv", b'epoch,val_accuracy\n1,"0.5\n'), "curve.csv: not a"),
    "curve.csv accuracy 80": (
        lambda: _write("curve.csv", b"epoch,val_accuracy\n1,80\n"),
        "curve.csv: val_acc",
    ),
}


def _drop(name: str) -> None:
    path = _damaged_folder() / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.pop(name)
    path.write_text(json.dumps(metrics))


def _mean_of_sound_kd_seeds() -> float:
    return (
        sum(
            json.loads((suite_mod.run_dir("default", "digits", "kd", s) / "metrics.json").read_text())[
                "test_accuracy"
            ]
            for s in (0, 1, 2, 4)
        )
        / 4
    )


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_run_is_left_out_and_named(checkout, case):
    damage, expected = DAMAGE[case]
    s = suite_mod.parse(_suite_data())
    damage()
    sound, damaged = lb.scan_published(s)
    assert list(damaged) == [DAMAGED] and expected in damaged[DAMAGED], damaged
    assert damaged[DAMAGED].startswith(f"{_damaged_folder()}: ")
    raw, broken = lb.leave_out_damaged(lb.published_runs(s, sound), damaged)
    runs, left = lb.select(raw, lb.wanted_runs(s, sound))
    assert (
        left.empty and len(runs) == 9 and DAMAGED not in set(runs[lb.KEYS].itertuples(index=False, name=None))
    )
    assert broken[["run_id", "reason"]].to_dict("records") == [  # listed as left out
        {"run_id": str(_damaged_folder()), "reason": lb.DAMAGED}
    ]


def test_a_nan_accuracy_leaves_four_seeds_and_their_mean(checkout):
    """Not "5 seeds" over a mean of 4: the label and the statistics count the same runs."""
    mean = _mean_of_sound_kd_seeds()
    _edit_metrics(test_accuracy=float("nan"))
    s = suite_mod.parse(_suite_data())
    sound, damaged = lb.scan_published(s)
    runs, _ = lb.select(lb.published_runs(s, sound), lb.wanted_runs(s, sound))
    table = lb.aggregate(runs).set_index("method")
    assert table.loc["kd", "n_seeds"] == 4 and table.loc["scratch", "n_seeds"] == 5
    assert table.loc["kd", "test_acc_mean"] == pytest.approx(mean, abs=1e-12)


def test_values_out_of_range_from_mlflow_are_left_out_too():
    """The same ranges apply to runs read from MLflow: a NaN accuracy is a run not finished."""
    raw = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "k"],
            "status": ["FINISHED", "FINISHED", "FINISHED", "KILLED"],
            "dataset": "digits",
            "method": "kd",
            "seed": [0, 1, 2, 3],
            "test_accuracy": [0.9, float("nan"), 7.5, float("nan")],  # a killed run logged none
            "spikes_per_sample": [10.0, 11.0, 12.0, float("nan")],
            "firing_rate/features.lif1": [0.1, 0.1, 0.1, float("nan")],
        }
    )
    damaged: dict = {}
    kept, left = lb.leave_out_damaged(raw, damaged)
    assert list(kept["run_id"]) == ["a", "k"] and list(left["run_id"]) == ["b", "c"]  # k: select's job
    assert set(left["reason"]) == {lb.DAMAGED}
    assert damaged[("digits", "kd", 1)] == "b: run: test_accuracy: missing"
    assert damaged[("digits", "kd", 2)] == "c: run: test_accuracy: 7.5 is outside [0, 1]"


def test_leaderboard_command_lists_the_damaged_run_and_never_publishes_750_percent(checkout, capsys):
    _edit_metrics(test_accuracy=7.5)
    code = main(["leaderboard", "--from-files", "--no-log", "--out", "out"])
    out, err = capsys.readouterr()
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("snnkd: warning:")]
    assert warning == [
        f"snnkd: warning: left out, damaged run files: {_damaged_folder()}: "
        "metrics.json: test_accuracy: 7.5 is outside [0, 1]"
    ]
    md = (checkout / "out/leaderboard.md").read_text()
    assert "- left out, damaged run files: kd seed 3 (" in md
    assert "Runs left out: 1.\n- damaged run files: 1" in md and "750.00" not in md
    csv = pd.read_csv(checkout / "out/leaderboard.csv").set_index("method")
    assert csv.loc["kd", "n_seeds"] == 4 and csv["test_acc_mean"].max() <= 1.0
    assert out.startswith("# Leaderboard")


def test_damaged_reference_network_is_named_not_a_traceback(checkout):
    (checkout / "results/default/networks/digits/teacher/metrics.json").write_text('{"test_accuracy": 99.5}')
    s = suite_mod.parse(_suite_data())
    runs, _ = lb.select(lb.published_runs(s), lb.wanted_runs(s))
    lines = lb.context_lines(s, runs)["digits"]
    damaged = "teacher damaged (results/default/networks/digits/teacher: metrics.json: test_accuracy: 99.5"
    assert any(damaged in x for x in lines), lines


def test_an_unwritable_report_leaves_every_old_file_as_it_was(checkout, capsys):
    out = checkout / "out"
    out.mkdir()
    for name in OUTPUTS[:-1]:
        (out / name).write_text(f"old {name}\n")
    (out / "report.html").mkdir()  # cannot be replaced by a file
    code = main(["leaderboard", "--from-files", "--no-log", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0] == (
        f"snnkd: error: {out}/report.html: cannot write (Is a directory); no file of "
        + ", ".join(OUTPUTS)
        + " was changed"
    )
    for name in OUTPUTS[:-1]:
        assert (out / name).read_text() == f"old {name}\n", name
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no staging folder left behind
