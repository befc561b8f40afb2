"""Suite entries that alias a method (`methods.<name>.method`) and name their twin teacher
(`methods.<name>.twin`): the quant-evidence suite as one suite; an alias runs its method under its
own name; a twin teacher is the named run's same-seed checkpoint; bad values are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import one_line_error

from snnkd.cli.main import main
from snnkd.errors import ConfigError
from snnkd.pipeline import plan
from snnkd.pipeline import stages as pipeline
from snnkd.pipeline import suite as S

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "suite": "tiny",
    "datasets": ["digits"],
    "seeds": [0],
    "jobs": 1,
    "student": "student",
    "common": {"T": 2, "encoder": "direct", "device": "cpu", "threads": 1,
               "train": {"batch_size": 128, "lr": 0.004}},
    "budgets": {"digits": {"train": {"epochs": 1}}},
    "networks": {},
    "methods": {
        "scratch": {},
        "fp-lr": {"method": "scratch", "config": {"train": {"lr": 0.01}}},
        "md": {"method": "md-snn", "twin": "fp-lr",
               "config": {"quant": {"weight_bits": 4, "membrane_bits": 4}}},
    },
    "groups": {"none": ["scratch", "fp-lr"], "teacher": [], "spiking": [], "assistant": [], "twin": ["md"]},
    "tune": {"trials": 0, "objectives": "accuracy"},
}  # fmt: skip


def _tiny(**edits) -> dict:
    data = json.loads(json.dumps(TINY))
    for key, value in edits.items():
        where = data
        *path, last = key.split("__")
        for part in path:
            where = where[part]
        if value is None:
            del where[last]
        else:
            where[last] = value
    return data


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    (tmp_path / "methods").symlink_to(REPO / "methods")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_quant_evidence_suite_is_one_suite_of_18_runs(monkeypatch):
    monkeypatch.chdir(REPO)
    suite = S.load("benchmarks/quant-evidence.yaml")
    assert len(suite.run_names()) == 18 and suite.tables == ["quant"]
    md = suite.method_config("digits", "md-snn-mint-b4-t2", 3)
    assert md["method"] == "md-snn" and md["T"] == 2
    assert md["quant"] == {"weight_bits": 4, "membrane_bits": 4, "scheme": "mint"}
    assert md["teacher"] == "results/quant-evidence/checkpoints/digits/scratch/seed3.pt"  # the T = 4 run
    assert md["hparams"] == {"tau": 4.0, "alpha": 0.5, "beta": 1.0}
    fp2 = suite.method_config("digits", "scratch-t2", 0)
    assert fp2["method"] == "scratch" and fp2["T"] == 2 and "teacher" not in fp2
    assert suite.method_of("quant-lsq-b2-t2") == "quant" and suite.method_of("scratch") == "scratch"
    records = plan.build({suite.suite: suite})
    rec = records["runs"]["quant-evidence-digits-md-snn-lsq-b4-t2"]
    assert rec["method"] == rec["entry"] == "md-snn-lsq-b4-t2"
    assert rec["plugin"] == rec["plugin2"] == "methods/md_snn.py"
    assert rec["learns_from"] == "results/quant-evidence/checkpoints/digits/scratch"
    assert records["quant"] == {"quant-evidence": {"suite": "quant-evidence"}}


def test_a_twin_names_its_teacher_run_and_the_plan_its_checkpoints(here):
    suite = S.check(S.parse(TINY))
    assert (
        suite.method_config("digits", "md", 2)["teacher"] == "results/tiny/checkpoints/digits/fp-lr/seed2.pt"
    )
    rec = plan.build({"tiny": suite})["runs"]["tiny-digits-md"]
    assert rec["learns_from"] == "results/tiny/checkpoints/digits/fp-lr"
    assert rec["plugin"] == "methods/md_snn.py"
    assert plan.build({"tiny": suite})["runs"]["tiny-digits-fp-lr"]["plugin"] == "methods/scratch.py"


def test_the_new_fields_are_left_out_of_dumps_at_their_defaults():
    assert S.MethodEntry().model_dump() == {"hparams": {}, "config": {}}
    assert S.MethodEntry(method="quant").model_dump()["method"] == "quant"


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"methods__fp-lr__method": "nope"},
         "methods.fp-lr.method: unknown method (compose with '+', no spaces); valid choices: "),
        ({"methods__fp-lr__method": "a;touch PWNED"}, "methods.fp-lr.method: 'a;touch PWNED'"),
        ({"methods__md__twin": "scratch-t9"}, "methods.md.twin: 'scratch-t9' is not a run of groups.none; "
                                              "valid choices: scratch, fp-lr"),
        ({"methods__md__twin": "md"}, "methods.md.twin: 'md' is not a run of groups.none"),
        ({"methods__fp-lr__twin": "scratch"}, "methods.fp-lr.twin: only an entry of groups.twin has a twin"),
        ({"groups__none": ["scratch", "fp-lr", "md"], "groups__twin": []},
         "groups.none: 'md' learns from its 'fp-twin' network; it belongs in groups.twin"),
        ({"methods__md__method": "kd"}, "groups.twin: 'md' learns from its 'teacher' network; "
                                        "it belongs in groups.teacher"),
        ({"methods__fp-lr__method": "logit-reg", "tune": {"trials": 2, "objectives": "accuracy"}},
         "methods.fp-lr.method: an alias of a tunable method is not tuned"),
        ({"sweeps": {"fp-lr": {"lambda_z": {"values": [0.1, 0.2]}}}, "methods__fp-lr__method": "logit-reg"},
         "sweeps.fp-lr: an alias (methods.fp-lr.method) cannot be swept"),
    ],
)  # fmt: skip
def test_a_bad_alias_or_twin_is_one_line(here, capsys, edits, expected):
    data = _tiny(**edits)
    with pytest.raises(ConfigError) as err:
        S.check(S.parse(data))
    assert "\n" not in str(err.value) and expected in str(err.value)
    (here / "benchmarks").mkdir()
    (here / "benchmarks" / "tiny.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    one_line_error(capsys, main(["suite", "use", "tiny"]), expected)
    assert not (here / "params.yaml").exists() and not list(here.rglob("PWNED*"))


def test_an_alias_runs_its_method_under_its_own_name_and_a_twin_learns_from_its_run(here):
    """1 epoch on digits: `fp-lr` (scratch at another lr) and `md` (md-snn, its twin fp-lr)."""
    (here / "benchmarks").mkdir()
    (here / "benchmarks" / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    assert main(["suite", "use", "tiny"]) == 0
    params = here / "params.yaml"
    pipeline.tune(params, "tiny", "digits", "fp-lr")
    tuned = yaml.safe_load((here / "results/tiny/tuned/digits/fp-lr.yaml").read_text())
    assert tuned == {"dataset": "digits", "method": "fp-lr", "hparams": {}}
    pipeline.method(params, "tiny", "digits", "fp-lr", 0)
    folder = here / "results/tiny/runs/digits/fp-lr/seed0"
    record = json.loads((folder / "run.json").read_text())
    assert record["config"]["method"] == "scratch" and record["config"]["train"]["lr"] == 0.01
    assert (here / "results/tiny/checkpoints/digits/fp-lr/seed0.pt").is_file()
    pipeline.method(params, "tiny", "digits", "md", 0)
    record = json.loads((here / "results/tiny/runs/digits/md/seed0/run.json").read_text())
    assert record["config"]["method"] == "md-snn"
    assert record["teacher"]["path"] == "results/tiny/checkpoints/digits/fp-lr/seed0.pt"
    assert not (here / "results/tiny/runs/digits/scratch").exists()  # the twin is fp-lr, not scratch
