"""Issue 21 items 9, 13, 14, 17, 18 and issue 24 items 3, 4: refusals are one line, exit 2, nothing written.

Each refusal is tried through ``snnkd.cli.main`` as a user types it: the pipeline stages refuse what
the suite does not contain, ``suite check`` refuses what ``pipeline setup`` refuses, argparse errors
name the valid choices, ``--tau`` says what to use. Canonical run identities: ``--hparam tau=4`` and
``tau: 4.0`` are one run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import small_config

from snnkd.cli.main import build_parser, main
from snnkd.pipeline import params_file, plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _own_mlflow_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def _one_line_error(capsys, code: int, expected: str) -> str:
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("snnkd: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err and "usage:" not in out + err
    return lines[0]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def smoke(tmp_path, monkeypatch) -> Path:
    """A checkout-like folder whose params.yaml is the smoke suite (digits, scratch and kd, seeds 0
    and 1) with its plan; the working directory."""
    (tmp_path / "benchmarks").symlink_to(REPO / "benchmarks")
    (tmp_path / "methods").symlink_to(REPO / "methods")
    monkeypatch.chdir(tmp_path)
    params_file.use("smoke")
    return tmp_path / "params.yaml"


# --- item 9 and 13: a stage of what the suite does not contain ---------------------------------

NOT_IN_SUITE = [
    (
        ["network", "smoke", "mnist1d", "teacher"],
        "dataset 'mnist1d' is not in suite 'smoke'; valid choices: digits",
    ),
    (
        ["network", "smoke", "digits", "assistant"],
        "network 'assistant' is not in suite 'smoke'; valid choices: teacher",
    ),
    (
        ["method", "smoke", "digits", "scratch", "99"],
        "seed '99' is not in suite 'smoke'; valid choices: 0, 1",
    ),
    (
        ["method", "smoke", "digits", "nope"],
        "method 'nope' is not in suite 'smoke'; valid choices: scratch, kd",
    ),
    (
        ["method", "smoke", "digits", "nope", "0"],
        "method 'nope' is not in suite 'smoke'; valid choices: scratch, kd",
    ),
    (
        ["method", "smoke", "mnist1d", "scratch"],
        "dataset 'mnist1d' is not in suite 'smoke'; valid choices: digits",
    ),
    (
        ["tune", "smoke", "digits", "logit-reg"],
        "method 'logit-reg' is not in suite 'smoke'; valid choices: scratch, kd",
    ),
]


@pytest.mark.parametrize("argv,expected", NOT_IN_SUITE)
def test_pipeline_refuses_what_the_suite_does_not_contain(smoke, capsys, argv, expected):
    before = _tree(smoke.parent)
    code = main(["pipeline", *argv])
    _one_line_error(capsys, code, f"params.yaml: {expected}")
    assert _tree(smoke.parent) == before  # nothing written (no results/, no runs/, no mlflow.db)


def test_jobs_must_be_at_least_one(smoke, capsys):
    before = _tree(smoke.parent)
    code = main(["pipeline", "method", "smoke", "digits", "scratch", "--jobs", "0"])
    _one_line_error(capsys, code, "argument --jobs: must be >= 1, got 0")
    assert _tree(smoke.parent) == before


# --- item 14: suite check refuses what pipeline setup refuses ----------------------------------


def _edit(path: Path, edit) -> None:
    """``edit`` of the smoke suite's settings (and, as ``plan``, of the file's plan)."""
    data = yaml.safe_load(path.read_text())
    suite = data["suites"]["smoke"]
    suite["plan"] = data.pop("plan")
    edit(suite)
    if "plan" in suite:
        data["plan"] = suite.pop("plan")
    path.write_text(yaml.safe_dump(data))


def _three_methods(data: dict) -> None:
    data["methods"]["kd+logit-reg+act-reg"] = {}
    data["groups"]["teacher"].append("kd+logit-reg+act-reg")


def _add_method(data: dict) -> None:  # edited by hand, plan not regenerated
    data["methods"]["logit-reg"] = {}
    data["groups"]["none"].append("logit-reg")


SETUP_REFUSES = {
    "stale plan": (_add_method, "plan: missing or out of date with datasets/methods/networks"),
    "missing plan": (lambda d: d.pop("plan"), "plan: missing or out of date"),
    "hand-edited plan": (
        lambda d: d["plan"]["runs"]["smoke-digits-kd"].update(learns_from="x.pt"),
        "plan: missing",
    ),
    "three-method composition": (
        _three_methods,
        "methods.kd+logit-reg+act-reg: at most two methods may be composed in a suite",
    ),
}


@pytest.mark.parametrize("case", list(SETUP_REFUSES))
def test_suite_check_refuses_what_setup_refuses(smoke, capsys, case):
    edit, expected = SETUP_REFUSES[case]
    _edit(smoke, edit)
    check = _one_line_error(capsys, main(["suite", "check"]), expected)
    setup = _one_line_error(capsys, main(["pipeline", "setup"]), expected)
    assert check == setup
    assert not (smoke.parent / "results").exists() and not (smoke.parent / "mlflow.db").exists()


def test_suite_check_says_valid_where_setup_goes_on(smoke, capsys):
    assert main(["suite", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith("; valid")


def test_suite_use_refuses_a_three_method_composition(smoke, capsys, tmp_path):
    (tmp_path / "suites").mkdir()
    data = yaml.safe_load((REPO / "benchmarks/smoke.yaml").read_text())
    _three_methods(data)
    (tmp_path / "suites/three.yaml").write_text(yaml.safe_dump(data))
    before = smoke.read_bytes()
    with pytest.raises(Exception, match="at most two methods may be composed"):
        params_file.use("three", benchmarks=tmp_path / "suites")
    assert smoke.read_bytes() == before


def test_non_utf8_params_yaml_is_one_line(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"suite: caf\xe9\n")
    _one_line_error(capsys, main(["suite", "check", str(path)]), f"{path}: not UTF-8 text (byte 10")


def _immutable(path: Path) -> callable:
    """Make ``path`` unwritable: ``chattr +i`` as root (root ignores permissions), else a read-only folder."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i not available here: {done.stderr.decode().strip()}")
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    path.parent.chmod(0o555)
    return lambda: path.parent.chmod(0o755)


def test_suite_use_onto_an_immutable_params_yaml_is_one_line(smoke, capsys):
    before = smoke.read_bytes()
    undo = _immutable(smoke)
    try:
        code = main(["suite", "use", "default"])
        line = _one_line_error(capsys, code, f"{smoke.name}: cannot write (")
        assert line.endswith("nothing was changed")
        assert smoke.read_bytes() == before
        assert [p.name for p in smoke.parent.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        undo()


# --- item 17: --tau ----------------------------------------------------------------------------


def test_tau_flag_is_refused_with_what_to_use(capsys):
    code = main(["train", "--method", "kd", "--tau", "4"])
    line = _one_line_error(capsys, code, "argument --tau: ambiguous")
    assert "--lif-tau VALUE" in line and "--hparam tau=VALUE" in line


def test_lif_tau_sets_the_neuron_and_hparam_tau_the_temperature():
    from snnkd.cli.run_flags import run_config

    args = build_parser().parse_args(["train", "--method", "kd", "--lif-tau", "3", "--hparam", "tau=4"])
    cfg = run_config(args)
    assert cfg.neuron.tau == 3.0 and cfg.hparams == {"tau": 4}


# --- item 18: argparse errors are one line naming the valid choices ----------------------------

ARGPARSE = [
    (["train", "--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
    (["eval", "x.pt", "--split", "train"], "--split: invalid choice: 'train' (choose from 'val', 'test')"),
    (["list", "nope"], "argument what: invalid choice: 'nope' (choose from 'datasets', 'models', 'methods'"),
    (["pipeline"], "required: step; valid choices for step: setup, data, network, tune, method"),
    ([], "required: command; valid choices for command: train, eval, list, stage, export, tune, suite"),
    (["nope"], "argument command: invalid choice: 'nope' (choose from 'train', 'eval'"),
    (["train", "--nope"], "unrecognized arguments: --nope"),
    (["suite"], "required: action; valid choices for action: add, remove, use, check, plan"),
]  # fmt: skip


@pytest.mark.parametrize("argv,expected", ARGPARSE)
def test_argparse_errors_are_one_line(capsys, argv, expected):
    _one_line_error(capsys, main(argv), expected)


def test_help_still_prints_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "--help"])
    assert exit_.value.code == 0 and "usage: snnkd pipeline" in capsys.readouterr().out


# --- issue 24 item 3: canonical run identity ---------------------------------------------------


def _cli_config(teacher: Path, *extra: str):
    from snnkd.cli.run_flags import run_config

    argv = ["train", "--method", "kd", "--teacher", str(teacher), "--device", "cpu", "--epochs", "2", *extra]
    return run_config(build_parser().parse_args(argv))


def test_cli_and_suite_hparams_give_one_identity_and_resume_each_other(teacher_ckpt, tmp_path):
    from snnkd.trainer.loop import fit
    from snnkd.trainer.run import prepare

    def cli():
        return _cli_config(teacher_ckpt, "--hparam", "tau=4", "--hparam", "alpha=0.5")

    def suite():
        return small_config(
            method="kd", teacher=str(teacher_ckpt), train__epochs=2, hparams={"tau": 4.0, "alpha": 0.5}
        )

    assert cli().hparams == {"tau": 4, "alpha": 0.5} and cli().identity() != suite().identity()  # as typed
    a, b = prepare(cli()), prepare(suite())
    assert a.cfg.hparams == {"tau": 4.0, "alpha": 0.5} and isinstance(a.cfg.hparams["tau"], float)
    assert a.cfg.identity() == b.cfg.identity()
    for first, second, out in ((cli, suite, tmp_path / "cli-first"), (suite, cli, tmp_path / "suite-first")):
        assert fit(prepare(first()), out, show_progress=False, stop_after=1) == {"stopped_after": 1}
        resumed = fit(prepare(second()), out, resume=True, show_progress=False)  # not "another configuration"
        assert resumed["epochs"] == 2 and resumed["identity"] == a.cfg.identity()


def test_integer_hparams_stay_integers_and_fractions_are_refused():
    from snnkd.errors import ConfigError
    from snnkd.methods import get_method

    act = get_method("act-reg")
    assert act.canonical({"p": 2.0, "lambda_a": 1}) == {"p": 2, "lambda_a": 1.0}
    assert [type(v) for v in act.canonical({"p": 2.0, "lambda_a": 1}).values()] == [int, float]
    from snnkd.methods import HParam

    with pytest.raises(ConfigError, match="hparams.k: expected an integer, got 2.5"):
        HParam(3, 1, 10).check("k", 2.5)


def test_committed_run_identities_do_not_move():
    """Their hyper-parameters are floats already: canonical types leave every published identity."""
    from snnkd.core.config import validate
    from snnkd.methods import get_method

    records = sorted((REPO / "results/default/runs").glob("*/*/seed0/run.json"))
    assert len(records) >= 10
    for path in records:
        record = json.loads(path.read_text())
        cfg = validate(record["config"])
        cfg.hparams = get_method(cfg.method, cfg.plugin_dirs).canonical(cfg.hparams)
        assert cfg.identity() == record["identity"], path


# --- issue 24 item 4: provenance and suite use outside a checkout -----------------------------


def test_provenance_names_the_tuning_epochs_default():
    from snnkd.pipeline import suites
    from snnkd.results import report

    s = suites.load(REPO / "params.yaml", "default", full=False)
    assert s.tune.epochs is None
    assert report.tuning(s)["epochs"] == "the dataset's budget (to a plateau)"
    html = report._budgets(s)
    assert "None" not in html and "<th>epochs</th><td>the dataset&#x27;s budget (to a plateau)</td>" in html


def test_suite_use_outside_a_checkout_says_where_suites_come_from(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(capsys, main(["suite", "use", "default"]), "suite: no benchmarks/ folder in ")
    assert "benchmarks/<name>.yaml files of an snnkd checkout" in line and "valid choices: \n" not in line
    assert list(tmp_path.iterdir()) == []


def test_suite_use_without_a_name_lists_the_suites(smoke, capsys):
    line = _one_line_error(capsys, main(["suite", "use"]), "suite: expected NAME")
    shipped = sorted(p.stem for p in (REPO / "benchmarks").glob("*.yaml"))
    assert line.endswith("valid choices: " + ", ".join(shipped))


def test_suite_use_writes_the_suite_and_its_plan_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # plugin files are named relative to the checkout
    target = params_file.use("evidence", target=tmp_path / "params.yaml")
    text = target.read_text()
    assert plan.MARKER in text and "\nsuites:\n  evidence:\n" in text
    benchmark = yaml.safe_load((REPO / "benchmarks/evidence.yaml").read_text())
    assert yaml.safe_load(text)["suites"] == {"evidence": benchmark}  # the benchmark file, comments kept
    assert (REPO / "benchmarks/evidence.yaml").read_text().splitlines()[0] in text
    plan.load_checked(target)  # what the setup stage checks
