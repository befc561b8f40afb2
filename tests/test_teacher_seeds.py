"""Reference networks trained on several seeds (``networks.<name>.seeds``, issue 22): every student
seed is paired with a teacher seed, by position, and the pipeline plans, trains and publishes one
network per seed. The unit tests read hand-built suites; the end-to-end test runs ``dvc repro`` of
a 3-seed kd suite with 2 teacher seeds (digits, 1 epoch) and checks which teacher each run learnt
from through the sha256 that its ``run.json`` records."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from smoke_repo import fresh_copy, sh, smoke_env

from snnkd.errors import ConfigError
from snnkd.pipeline import plan
from snnkd.pipeline.suite import check, network_dir, parse, split_network

SUITE = {
    "suite": "teachers",
    "datasets": ["digits"],
    "seeds": [0, 1, 2],
    "jobs": 2,
    "student": "student",
    "common": {"T": 2, "encoder": "direct", "device": "cpu", "threads": 1,
               "train": {"batch_size": 128, "lr": 0.004}},
    "budgets": {"digits": {"train": {"epochs": 1}}},
    "networks": {"teacher": {"model": "teacher", "seeds": 2,
                             "budgets": {"digits": {"train": {"epochs": 1}}}}},
    "methods": {"scratch": {}, "kd": {"hparams": {"tau": 4.0, "alpha": 0.5}}},
    "groups": {"none": ["scratch"], "teacher": ["kd"], "spiking": [], "assistant": [], "twin": []},
    "tune": {"trials": 0, "objectives": "accuracy"},
}  # fmt: skip


def suite_with(**networks) -> dict:
    data = copy.deepcopy(SUITE)
    data["networks"].update(networks)
    return data


def test_student_seeds_pair_with_teacher_seeds_by_position():
    suite = check(parse({**suite_with(), "seeds": [3, 5, 7, 9, 11]}))
    assert suite.network_seeds("teacher") == [3, 5]
    assert suite.network_names() == ["teacher/seed3", "teacher/seed5"]
    # the i-th seed learns from the network of seed seeds[i mod k]
    chosen = {seed: suite.network_for("teacher", seed) for seed in suite.seeds}
    assert chosen == {3: "teacher/seed3", 5: "teacher/seed5", 7: "teacher/seed3", 9: "teacher/seed5",
                      11: "teacher/seed3"}  # fmt: skip
    for seed, name in chosen.items():
        teacher = suite.method_config("digits", "kd", seed, tuned=False)["teacher"]
        assert Path(teacher) == network_dir("teachers", "digits", name) / "checkpoint.pt"
        assert Path(teacher).parts[-3:] == ("teacher", f"seed{split_network(name)[1]}", "checkpoint.pt")
    assert suite.network_config("digits", "teacher/seed5")["seed"] == 5
    with pytest.raises(ConfigError, match=r"seed: 4 is not in suite 'teachers'"):
        suite.network_for("teacher", 4)


def test_one_seed_keeps_the_published_layout_and_dumps():
    data = suite_with()
    data["networks"]["teacher"].pop("seeds")
    suite = check(parse(data))
    assert suite.network_names() == ["teacher"]
    assert suite.network_for("teacher", 2) == "teacher"
    assert "seeds" not in suite.networks["teacher"].model_dump()  # additive: committed plans unchanged
    records = plan.build({"teachers": suite})
    assert list(records["networks"]) == ["teachers-digits-teacher"]
    teacher = "results/teachers/networks/digits/teacher/checkpoint.pt"
    assert records["runs"]["teachers-digits-kd"]["learns_from"] == teacher


def test_the_assistant_of_each_seed_learns_from_that_seeds_teacher():
    assistant = {"model": "assistant", "method": "kd", "teacher": "teacher", "seeds": 2,
                 "hparams": {"tau": 4.0, "alpha": 0.5}}  # fmt: skip
    one = {**assistant, "seeds": 1}
    data = suite_with(assistant=assistant)
    data["methods"]["multistage"] = {"hparams": {"tau": 4.0, "alpha": 0.5}}
    data["groups"]["assistant"] = ["multistage"]
    suite = check(parse(data))
    for seed in (0, 1):
        cfg = suite.network_config("digits", f"assistant/seed{seed}")
        assert cfg["seed"] == seed and Path(cfg["teacher"]).parts[-2] == f"seed{seed}"
    data["networks"]["assistant"] = one  # one assistant: it learns from the first seed's teacher
    suite = check(parse(data))
    assert Path(suite.network_config("digits", "assistant")["teacher"]).parts[-2] == "seed0"
    assert suite.method_config("digits", "multistage", 2, tuned=False)["teacher"].endswith(
        "networks/digits/assistant/checkpoint.pt"
    )


def test_the_plan_has_one_record_per_teacher_seed_and_runs_depend_on_the_folder():
    records = plan.build({"teachers": check(parse(suite_with()))})
    nets = records["networks"]
    assert list(nets) == ["teachers-digits-teacher-seed0", "teachers-digits-teacher-seed1"]
    assert [r["name"] for r in nets.values()] == ["teacher/seed0", "teacher/seed1"]
    assert all(r["settings"]["seeds"] == 2 for r in nets.values())
    assert records["runs"]["teachers-digits-kd"]["learns_from"] == "results/teachers/networks/digits/teacher"
    assert records["runs"]["teachers-digits-scratch"]["learns_from"] == "data/prepared/digits/splits.json"
    plan.check_names(records)  # <name>/seed<s> is a valid network record name


@pytest.mark.parametrize(
    "name", ["teacher/seed1;id", "teacher/../x", "../seed1", "teacher/seed01", "a/b/seed1", "-x/seed1"]
)
def test_a_network_record_name_that_is_not_name_slash_seed_is_refused(name):
    records = plan.build({"teachers": check(parse(suite_with()))})
    records["networks"]["teachers-digits-teacher-seed1"]["name"] = name
    where = r"plan\.networks\.teachers-digits-teacher-seed1\.name: "
    with pytest.raises(ConfigError, match=where + r".* is not a valid network name"):
        plan.check_names(records)


def test_more_teacher_seeds_than_suite_seeds_is_one_line():
    data = suite_with()
    data["networks"]["teacher"]["seeds"] = 4
    line = r"^params.yaml: networks.teacher.seeds: 4 is more than the suite's 3 seeds$"
    with pytest.raises(ConfigError, match=line):
        check(parse(data))
    data["networks"]["teacher"]["seeds"] = 0
    with pytest.raises(ConfigError, match=r"networks.teacher.seeds"):
        parse(data)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dvc_repro_trains_a_teacher_per_seed_and_pairs_each_student_with_one(tmp_path):
    env = smoke_env(tmp_path)
    repo = fresh_copy(tmp_path / "repo", env)
    (repo / "params.yaml").write_text(yaml.safe_dump({"suites": {"teachers": SUITE}}, sort_keys=False))
    sh(["snnkd", "suite", "plan"], repo, env)
    out = sh(["dvc", "repro"], repo, env)
    for seed in (0, 1):
        assert f"Running stage 'network@teachers-digits-teacher-seed{seed}'" in out
    nets = repo / "results" / "teachers" / "networks" / "digits" / "teacher"
    teachers = {seed: _sha(nets / f"seed{seed}" / "checkpoint.pt") for seed in (0, 1)}
    assert teachers[0] != teachers[1]
    assert json.loads((nets / "seed1" / "run.json").read_text())["config"]["seed"] == 1
    runs = repo / "results" / "teachers" / "runs" / "digits" / "kd"
    record = {s: json.loads((runs / f"seed{s}" / "run.json").read_text()) for s in range(3)}
    learnt = {s: r["teacher"]["sha256"] for s, r in record.items()}
    assert learnt == {0: teachers[0], 1: teachers[1], 2: teachers[0]}
    board = (repo / "results" / "teachers" / "leaderboard.md").read_text()
    assert "teacher/seed0 " in board and "teacher/seed1 " in board  # both teachers' accuracies
    # up to date: nothing re-runs, and a changed second teacher re-runs only what learns from it
    assert "Stage 'method@teachers-digits-kd' didn't change" in sh(["dvc", "repro"], repo, env)
    (nets / "seed1" / "checkpoint.pt").write_bytes(b"changed")
    status = sh(["dvc", "status"], repo, env)
    assert "method@teachers-digits-kd" in status and "method@teachers-digits-scratch" not in status
