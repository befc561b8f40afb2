"""The reproducible pipeline: suite validation, concurrent MLflow logging, `dvc repro` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from snnkd.errors import ConfigError
from snnkd.pipeline import suite as S

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "benchmarks" / "smoke.yaml"


def smoke_data() -> dict:
    return yaml.safe_load(SMOKE.read_text())


# -- params.yaml validation: fails before any training, naming the key -------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["methods"].update({"no-such": {}}), "methods.no-such: unknown method"),
        (
            lambda d: d["methods"].update({"kd + no-such": {}}),
            "methods.kd + no-such: 'kd + no-such' is not a valid",
        ),
        (lambda d: d.pop("seeds"), "seeds: Field required"),
        (lambda d: d.update(seeds="zero"), "seeds: Input should be a valid list"),
        (lambda d: d["methods"]["kd"]["hparams"].update(alpha=2.0), "methods.kd.hparams.alpha"),
        (lambda d: d["methods"]["kd"]["hparams"].update(gamma=1), "methods.kd.hparams.gamma"),
        (lambda d: d["common"].update(T="four"), "common: T: Input should be a valid integer"),
        (lambda d: d["groups"].update(none=["scratch", "kd"]), "groups.none: 'kd'"),
        (lambda d: d["groups"].update(teacher=[]), "groups: method 'kd' is in no group"),
        (lambda d: d.update(datasets=["cifar99"]), "datasets.0: unknown dataset 'cifar99'"),
        (lambda d: d["methods"].pop("scratch"), "reference method 'scratch' is required"),
        (lambda d: d["budgets"]["digits"]["train"].update(epochs=0), "budgets.digits: train.epochs"),
        (lambda d: d.update(student="huge"), "student: model: unknown model 'huge'"),
    ],
)
def test_malformed_params_name_the_key(tmp_path, edit, message):
    data = smoke_data()
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        S.load(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_default_and_evidence_suites_are_valid_and_complete():
    from snnkd.methods import discover

    default = S.load(ROOT / "benchmarks" / "default.yaml")
    assert default.datasets == ["digits", "mnist1d", "mnist-5k"] and len(default.seeds) == 5
    evidence = S.load(ROOT / "benchmarks" / "evidence.yaml")
    builtin = {name for name, m in discover().items() if m.doc and m.paper != "test"}
    assert set(evidence.methods) == builtin  # breadth lives in the evidence suite
    # the evidence suite's datasets are the default suite's it can make in one checkout (mnist-5k is one
    # line away in its file), with the same budgets and seeds
    assert evidence.datasets == ["digits", "mnist1d"] and evidence.seeds == default.seeds
    assert all(evidence.budgets[d] == default.budgets[d] for d in evidence.datasets)
    for suite in (default, evidence):  # students train to a plateau: early stopping everywhere
        for dataset in suite.datasets:
            assert suite.budgets[dataset]["train"]["patience"] >= 1


def test_a_composition_is_a_suite_method():
    data = smoke_data()
    data["methods"]["kd+logit-reg"] = {"hparams": {"tau": 2.0, "alpha": 0.5, "lambda_z": 0.1}}
    data["groups"]["teacher"].append("kd+logit-reg")
    suite = S.Suite.model_validate(data)
    S.check(suite, "params.yaml")
    cfg = suite.method_config("digits", "kd+logit-reg", 0, tuned=False)
    assert cfg["teacher"].endswith("digits/teacher/checkpoint.pt")
    assert cfg["hparams"] == {"tau": 2.0, "alpha": 0.5, "lambda_z": 0.1}


def test_method_configs_get_the_right_teacher_and_readout():
    suite = S.load(ROOT / "benchmarks" / "evidence.yaml")
    assert "teacher" not in suite.method_config("digits", "scratch", 1)
    kd = suite.method_config("digits", "kd", 1)
    assert kd["teacher"] == "results/evidence/networks/digits/teacher/checkpoint.pt" and kd["seed"] == 1
    spikes = suite.method_config("mnist1d", "kd-spike-train", 2)
    assert spikes["teacher"] == "results/evidence/networks/mnist1d/teacher-spiking/checkpoint.pt"
    assert spikes["readout"] == "spiking"
    assert suite.network_config("mnist1d", "teacher-spiking")["readout"] == "spiking"
    assert suite.method_config("digits", "multistage", 0)["teacher"].endswith(
        "digits/assistant/checkpoint.pt"
    )
    assert (
        suite.method_config("digits", "md-snn", 2)["teacher"]
        == "results/evidence/checkpoints/digits/scratch/seed2.pt"
    )
    assert suite.network_config("digits", "assistant")["teacher"].endswith("digits/teacher/checkpoint.pt")


# -- two processes logging to one SQLite store -------------------------------------------------

WRITER = """
import sys, pathlib
from snnkd.tracking.log import Tracker
t = Tracker(experiment="snnkd-conc", run_name=sys.argv[1], params={f"p{i}": i for i in range(50)},
            tags={"snnkd.role": "method", "snnkd.writer": sys.argv[1]}, state_dir=pathlib.Path(sys.argv[2]))
for epoch in range(1, 151):
    t.on_epoch(epoch, {"loss": 1.0 / epoch, "val_accuracy": epoch / 150, "epoch_seconds": 0.01})
t.finish({"test_accuracy": 0.5, "epochs": 150}, [], {"snnkd.done": "yes"})
"""


def test_two_processes_log_to_one_sqlite_store_without_loss(tmp_path):
    from mlflow import MlflowClient

    from snnkd.tracking import store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run([sys.executable, "-m", "snnkd.cli.main", "tracking", "init", "--suite", "conc"],
                   env=env, check=True, cwd=tmp_path, capture_output=True)  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}", str(tmp_path / f"w{i}")], env=env, cwd=tmp_path
        )
        for i in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("snnkd-conc")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["snnkd.writer"] for r in runs) == ["w0", "w1"]
    for r in runs:
        assert r.info.status == "FINISHED"
        assert len(r.data.params) == 50 and r.data.tags["snnkd.done"] == "yes"
        history = client.get_metric_history(r.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(1, 151))
        assert r.data.metrics["test_accuracy"] == 0.5
        assert r.data.metrics["tracking_seconds"] < r.data.metrics["wall_seconds"]
    assert store.tracking_uri() != uri or os.environ.get("MLFLOW_TRACKING_URI") == uri


def test_failed_run_is_marked_failed(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from snnkd.tracking import log

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = log.Tracker(experiment="snnkd-fail", run_name="x", params={}, tags={}, state_dir=tmp_path)
    with pytest.raises(RuntimeError), log.track(tracker):
        tracker.on_epoch(1, {"loss": 1.0})
        raise RuntimeError("diverged")
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("snnkd-fail").experiment_id])
    assert run.info.status == "FAILED"
    assert json.loads((tmp_path / log.RUN_FILE).read_text())["run_id"] == run.info.run_id


def test_repo_root_sees_through_dvc_temp_copies(tmp_path):
    from snnkd.tracking.store import repo_root

    (tmp_path / ".dvc").mkdir()
    inner = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc" / "src"
    inner.mkdir(parents=True)
    assert repo_root(inner) == tmp_path.resolve()


def test_reference_networks_have_their_own_budgets():
    suite = S.load(ROOT / "benchmarks" / "evidence.yaml")
    teacher = suite.network_config("mnist1d", "teacher")["train"]
    student = suite.method_config("mnist1d", "scratch", 0, tuned=False)["train"]
    assert teacher["epochs"] == suite.networks["teacher"].budgets["mnist1d"]["train"]["epochs"]
    assert student["epochs"] == suite.budgets["mnist1d"]["train"]["epochs"] != teacher["epochs"]


def test_a_network_stage_tracks_its_own_datasets_budget_alone():
    """A reference network's stage tracks its plan record (the network's entry with this dataset's
    budget only): adding a dataset's budget to a suite leaves the other datasets' networks as
    they were, so `dvc repro` does not retrain them."""
    from snnkd.pipeline import plan

    data = yaml.safe_load((ROOT / "benchmarks" / "evidence.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        before = plan.build({"evidence": S.check(S.Suite.model_validate(data))})
        data["datasets"].append("fsdd")
        data["sources"] = {"fsdd": "../shared/data/fsdd/recordings"}
        for net in data["networks"].values():
            net["budgets"]["fsdd"] = {"train": {"epochs": 7}}
        data["budgets"]["fsdd"] = {"train": {"epochs": 7}}
        after = plan.build({"evidence": S.check(S.Suite.model_validate(data))})
    key = "evidence-mnist1d-teacher-spiking"
    assert after["networks"][key] == before["networks"][key]
    settings = before["networks"][key]["settings"]
    assert settings["readout"] == "spiking" and "budgets" not in settings
    assert settings["budget"] == data["networks"]["teacher-spiking"]["budgets"]["mnist1d"]
    assert after["networks"]["evidence-fsdd-teacher"]["settings"]["budget"] == {"train": {"epochs": 7}}
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["network"]["do"]
    assert stage["params"] == ["suites.${item.suite}.common", "plan.networks.${key}"]


def test_plan_names_each_stage_its_teacher_and_plugin_files():
    from snnkd.pipeline import plan

    data = smoke_data()
    data["methods"]["kd-mse+logit-reg"] = {"hparams": {"beta": 1.0, "lambda_z": 0.1}}
    data["groups"]["teacher"].append("kd-mse+logit-reg")
    suite = S.check(S.Suite.model_validate(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        built = plan.build({"smoke": suite})
    assert built["runs"]["smoke-digits-kd"] == {
        "suite": "smoke", "dataset": "digits", "method": "kd", "entry": "kd",
        "learns_from": "results/smoke/networks/digits/teacher/checkpoint.pt",
        "plugin": "methods/kd.py", "plugin2": "methods/kd.py",
    }  # fmt: skip
    combo = built["runs"]["smoke-digits-kd-mse+logit-reg"]
    assert (combo["plugin"], combo["plugin2"]) == ("methods/kd_mse.py", "methods/logit_reg.py")
    assert built["runs"]["smoke-digits-scratch"]["learns_from"] == "data/prepared/digits/splits.json"
    assert list(built["networks"]) == ["smoke-digits-teacher"]  # no spiking teacher or assistant needed
    assert built["suites"] == ["smoke"] and built["data"] == ["digits"]
    with pytest.raises(ConfigError, match="plan: missing or out of date"):
        plan.check(None, {"smoke": suite})


def test_device_tags_name_the_cpu_and_its_kernels():
    """Bit-identical reproduction needs the same CPU kernels: the run says which it had."""
    import torch

    from snnkd.tracking.provenance import device_tags

    tags = device_tags("cpu")
    assert tags["snnkd.device"] == "cpu"
    assert tags["snnkd.host_cpu"]
    assert tags["snnkd.cpu_capability"] == torch.backends.cpu.get_cpu_capability()
