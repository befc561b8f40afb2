import json
import subprocess
import sys

import pytest
import torch
from conftest import small_config, train_run

from snnkd.cli.main import main
from snnkd.errors import TrainingDiverged
from snnkd.methods.terms import TERMS, TermSpec
from snnkd.trainer import checkpoint

STABLE = ("test_accuracy", "val_accuracy", "spikes_per_sample", "firing_rate", "synops", "energy_pj")


def _losses(metrics):
    return [(h["loss"], h["val_accuracy"]) for h in metrics["history"]]


def test_two_runs_with_one_seed_give_identical_metrics(tmp_path):
    _, a = train_run(small_config(train__epochs=2, seed=3), tmp_path / "a")
    _, b = train_run(small_config(train__epochs=2, seed=3), tmp_path / "b")
    assert {k: a[k] for k in STABLE} == {k: b[k] for k in STABLE}
    assert _losses(a) == _losses(b)
    _, c = train_run(small_config(train__epochs=2, seed=4), tmp_path / "c")
    assert _losses(c) != _losses(a)


def test_rate_encoded_runs_are_deterministic_too(tmp_path):
    cfg = small_config(encoder="rate", T=3)
    _, a = train_run(cfg, tmp_path / "a")
    _, b = train_run(cfg, tmp_path / "b")
    assert _losses(a) == _losses(b) and a["test_accuracy"] == b["test_accuracy"]


def test_resume_reaches_the_same_final_metrics(tmp_path):
    cfg = small_config(train__epochs=3, encoder="rate")
    _, full = train_run(cfg, tmp_path / "full")
    _, partial = train_run(cfg, tmp_path / "resumed", stop_after=1)
    assert partial == {"stopped_after": 1}
    assert checkpoint.load(tmp_path / "resumed" / "checkpoint.pt")["epoch"] == 1
    _, resumed = train_run(cfg, tmp_path / "resumed", resume=True)
    assert _losses(resumed) == _losses(full)
    assert {k: resumed[k] for k in STABLE} == {k: full[k] for k in STABLE}


def test_nan_loss_stops_with_a_clear_message(tmp_path, monkeypatch):
    spec = TERMS.get("ce")
    monkeypatch.setitem(
        TERMS._items,
        "ce",
        TermSpec(lambda s, k, y: s.logits.sum() * float("nan"), spec.student, spec.teacher),
    )
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1"):
        train_run(small_config(), tmp_path / "nan")


@pytest.mark.parametrize(
    "args,field",
    [
        (["--dataset", "imagenet"], "dataset: unknown dataset 'imagenet'; valid choices: cifar10, cifar100,"),
        (["--model", "giant"], "model: unknown model 'giant' for digits; valid choices:"),
        (["--surrogate", "relu"], "neuron.surrogate: Input should be 'atan', 'sigmoid' or 'triangle'"),
        (["--T", "0"], "T: Input should be greater than or equal to 1"),
        (["--epochs", "0"], "train.epochs: Input should be greater than or equal to 1"),
        (["--lr", "0"], "train.lr: Input should be greater than 0"),
        (["--batch-size", "0"], "train.batch_size: Input should be greater than or equal to 1"),
        (["--lif-tau", "0"], "neuron.tau: Input should be greater than 1"),
        (["--encoder", "latency"], "encoder: Input should be 'direct', 'rate' or 'frames'"),
        (["--set", "train.colour=blue"], "train.colour: unknown field"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, field):
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("snnkd: error: ") and field in err and "\n" not in err
    assert not out.exists()


def test_corrupted_or_foreign_checkpoints_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["eval", str(bad)]) == 2
    assert "is corrupted or not a checkpoint" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    assert main(["eval", str(foreign)]) == 2
    assert "is not an snnkd checkpoint" in capsys.readouterr().err


def test_cli_train_then_eval(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    record = json.loads((out / "run.json").read_text())  # what produced the numbers
    assert record["config"]["train"]["epochs"] == 1 and record["energy_model"]["e_mac_pj"] == 4.6
    assert "config" not in metrics and "history" not in metrics and metrics["epochs"] == 1
    nested = ("firing_rate_per_layer", "neurobench")
    assert all(isinstance(v, int | float) for k, v in metrics.items() if k not in nested)
    assert metrics["neurobench"]["SynapticOperations"]["Effective_ACs"] == metrics["synops"]
    assert (out / "curve.csv").read_text().splitlines()[0].startswith("epoch,")
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == metrics["test_accuracy"]
    # a finished run is not overwritten by accident (bad input: exit code 2)
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 2


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from snnkd.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
