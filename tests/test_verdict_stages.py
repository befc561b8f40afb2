"""The verdict tables as pipeline stages (issue 26): `claims@<suite>`, `quant-evidence@<suite>` and
`tuning@<suite>`, planned only for the suites of params.yaml that declare them (a claims file,
`tables: [quant]`, `tuned_against: <suite>` with both suites present); bad declarations are one line
and nothing is written; each stage depends on every snnkd module its command imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import one_line_error
from smoke_repo import IMPORTS

from snnkd.cli.main import main
from snnkd.pipeline import plan, suites

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A checkout-like folder (its own copy of benchmarks/) whose params.yaml holds the smoke suite."""
    shutil.copytree(REPO / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("*.py"))
    (tmp_path / "methods").symlink_to(REPO / "methods")
    monkeypatch.chdir(tmp_path)
    assert main(["suite", "use", "smoke"]) == 0
    return tmp_path / "params.yaml"


def _verdicts(params: Path) -> dict:
    data = yaml.safe_load(params.read_text())["plan"]
    return {k: data[k] for k in ("claims", "quant", "tuning")}


def test_the_committed_plan_has_its_verdict_stages_and_is_current(monkeypatch):
    """params.yaml holds the default suite (`tuned_against: evidence`: a tuning stage), the evidence
    suite and evidence-recordings, which checks the evidence suite's claims on its own runs (`claims:
    evidence`), and teacher-seeds and evidence-seeds with their own claims files: four claims stages,
    and quant-evidence's quant table."""
    monkeypatch.chdir(REPO)
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    assert data["suites"]["default"]["tuned_against"] == "evidence"
    claims = {"claims": "benchmarks/claims/evidence.yaml", "margin_pp": 0.5}
    assert _verdicts(REPO / "params.yaml") == {
        "claims": {
            **{name: {"suite": name, **claims} for name in ("evidence", "evidence-recordings")},
            **{
                name: {"suite": name, "claims": f"benchmarks/claims/{name}.yaml", "margin_pp": 0.5}
                for name in ("teacher-seeds", "evidence-seeds")
            },
        },
        "quant": {"quant-evidence": {"suite": "quant-evidence"}},
        "tuning": {"default": {"suite": "default", "against": "evidence"}},
    }
    assert data["plan"] == plan.build(plan.load_checked(REPO / "params.yaml"))


def test_each_suite_gets_the_stages_it_declares(checkout):
    assert _verdicts(checkout) == {"claims": {}, "quant": {}, "tuning": {}}  # smoke declares none
    assert main(["suite", "add", "evidence"]) == 0
    claims = {"suite": "evidence", "claims": "benchmarks/claims/evidence.yaml", "margin_pp": 0.5}
    assert _verdicts(checkout) == {"claims": {"evidence": claims}, "quant": {}, "tuning": {}}
    assert main(["suite", "add", "quant-evidence"]) == 0
    assert _verdicts(checkout)["quant"] == {"quant-evidence": {"suite": "quant-evidence"}}
    assert main(["suite", "add", "default"]) == 0  # tuned against evidence, now both are there
    assert _verdicts(checkout)["tuning"] == {"default": {"suite": "default", "against": "evidence"}}
    assert main(["suite", "remove", "evidence"]) == 0
    assert _verdicts(checkout) == {"claims": {}, "quant": {"quant-evidence": {"suite": "quant-evidence"}},
                                   "tuning": {}}  # fmt: skip
    assert main(["suite", "check"]) == 0


def test_a_margin_edited_in_params_reaches_the_claims_record(checkout):
    assert main(["suite", "add", "evidence"]) == 0
    text = checkout.read_text()
    checkout.write_text(
        text.replace("\n    suite: evidence\n", "\n    suite: evidence\n    margin_pp: 1.5\n")
    )
    assert main(["suite", "plan"]) == 0
    assert _verdicts(checkout)["claims"]["evidence"]["margin_pp"] == 1.5


def _smoke_with(checkout: Path, **fields) -> None:
    data = yaml.safe_load((checkout.parent / "benchmarks/smoke.yaml").read_text())
    data.update(fields)
    (checkout.parent / "benchmarks/smoke.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"tables": ["bogus"]},
            "benchmarks/smoke.yaml: tables.0: unknown table 'bogus'; valid choices: quant",
        ),
        ({"tables": ["quant", "quant"]}, "benchmarks/smoke.yaml: tables.1: 'quant' is listed twice"),
        ({"tuned_against": "nope"}, "benchmarks/smoke.yaml: tuned_against: 'nope' is not another suite"),
        ({"tuned_against": "smoke"}, "tuned_against: 'smoke' is not another suite (benchmarks/<name>.yaml)"),
        ({"tuned_against": "a;touch PWNED"}, "benchmarks/smoke.yaml: tuned_against: 'a;touch PWNED'"),
        ({"tables": ["a b"]}, "benchmarks/smoke.yaml: tables.0: 'a b'"),
        (
            {"claims": "nope"},
            "benchmarks/smoke.yaml: claims: no benchmarks/claims/nope.yaml; valid choices: evidence",
        ),
        ({"claims": "a;touch PWNED"}, "benchmarks/smoke.yaml: claims: 'a;touch PWNED'"),
    ],
)
def test_a_bad_declaration_is_one_line_and_writes_nothing(checkout, capsys, fields, expected):
    _smoke_with(checkout, **fields)
    before = checkout.read_bytes()
    line = one_line_error(capsys, main(["suite", "use", "smoke"]), expected)
    if "not another suite" in line:
        assert "valid choices: " in line and "default" in line.split("valid choices: ")[1]
    assert checkout.read_bytes() == before and not list(checkout.parent.rglob("PWNED*"))


def _claims(method="kd", metric="synops", want="cut", suite="smoke") -> str:
    compare = f"{{method: {method}, against: scratch, metric: {metric}, want: {want}}}"
    return f"suite: {suite}\nclaims: {{a: {{text: t, compare: [{compare}]}}}}"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (_claims(metric="acc", want="gain"),
         "benchmarks/claims/smoke.yaml: claims.a.compare.0.metric: Input should be"),
        (_claims(method="nope"),
         "benchmarks/claims/smoke.yaml: claims.a.compare.0.method: 'nope' is not a run of suite 'smoke'; "
         "valid choices: scratch, kd"),
        (_claims(suite="other"),
         "benchmarks/claims/smoke.yaml: suite: 'other' must be the file's name 'smoke'"),
        ("suite: smoke\nclaims: [", "benchmarks/claims/smoke.yaml: not valid YAML"),
    ],
)  # fmt: skip
def test_a_claims_file_that_fails_to_load_is_one_line_and_writes_nothing(checkout, capsys, claims, expected):
    (checkout.parent / "benchmarks/claims/smoke.yaml").write_text(claims + "\n")
    before = checkout.read_bytes()
    one_line_error(capsys, main(["suite", "plan"]), expected)
    assert checkout.read_bytes() == before
    one_line_error(capsys, main(["suite", "check"]), expected)  # the setup stage's check


def test_a_suite_checks_another_suites_claims_on_its_own_runs(checkout, capsys):
    """`claims: <name>`: benchmarks/claims/<name>.yaml (its `suite` is <name>), checked on this
    suite's runs, whose run names it must use; the stage's command is given the file."""
    (checkout.parent / "benchmarks/claims/borrowed.yaml").write_text(_claims(suite="borrowed") + "\n")
    _smoke_with(checkout, claims="borrowed")
    assert main(["suite", "use", "smoke"]) == 0
    record = {"suite": "smoke", "claims": "benchmarks/claims/borrowed.yaml", "margin_pp": 0.5}
    assert _verdicts(checkout)["claims"] == {"smoke": record}
    (checkout.parent / "benchmarks/claims/borrowed.yaml").write_text(_claims(suite="smoke") + "\n")
    one_line_error(
        capsys,
        main(["suite", "plan"]),
        "benchmarks/claims/borrowed.yaml: suite: 'smoke' must be the file's name 'borrowed'",
    )
    command = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["claims"]["do"]["cmd"]
    assert "--claims ${item.claims}" in command


def test_a_claims_file_planned_after_the_plan_makes_it_stale(checkout, capsys):
    (checkout.parent / "benchmarks/claims/smoke.yaml").write_text(_claims() + "\n")
    one_line_error(capsys, main(["suite", "check"]), "plan: missing or out of date")
    assert main(["suite", "plan"]) == 0
    assert _verdicts(checkout)["claims"] == {
        "smoke": {"suite": "smoke", "claims": "benchmarks/claims/smoke.yaml", "margin_pp": 0.5}
    }
    assert suites.load_all(checkout)["smoke"].tables == []


# ---- each verdict stage depends on every module its command imports ----

STAGE_ARGS = {  # the stage's command on the committed results (REPO), written elsewhere
    "claims": ["claims", "--results", "results/evidence", "--margin-pp", "0.5", "--out", "{tmp}/claims.md"],
    "quant-evidence": ["quant-evidence", "--results", "results/evidence", "--out", "{tmp}/q"],
    "tuning": ["tuning-evidence", "--tuned", "results/default", "--default", "results/evidence",
               "--out", "{tmp}/tuning.md"],
}  # fmt: skip


def missing_deps(imported: list[str], deps: list[str]) -> list[str]:
    """The imported files no ``src/`` dependency covers (a file, or a folder above it)."""
    return [f for f in imported if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, list[str]]:
    tmp = tmp_path_factory.mktemp("verdict-imports")
    out = {}
    for stage, args in STAGE_ARGS.items():
        argv = [a.format(tmp=tmp) for a in args]
        done = subprocess.run(
            [sys.executable, "-c", IMPORTS, *argv], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        out[stage] = done.stdout.split()
    return out


@pytest.mark.parametrize("stage", sorted(STAGE_ARGS))
def test_a_verdict_stage_depends_on_every_module_its_command_imports(imported, stage):
    do = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["do"]
    deps = [d for d in do["deps"] if d.startswith("src/")]
    assert "results/checked.json" in do["deps"] and "results/${key}/runs" in do["deps"]
    assert missing_deps(imported[stage], deps) == []
    assert f"src/snnkd/verdicts/{ {'quant-evidence': 'quant'}.get(stage, stage) }.py" in imported[stage]
    assert do["params"] == [f"plan.{ {'quant-evidence': 'quant'}.get(stage, stage) }.${{key}}"]
    assert subprocess.run(["git", "ls-files", "--error-unmatch", *deps], cwd=REPO,
                          capture_output=True).returncode == 0  # fmt: skip


def test_a_dependency_left_off_a_claims_stage_is_caught(imported):
    """Editing the claims stage's dependency list (a module dropped) fails the check above."""
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["claims"]["do"]["deps"]
    for dropped in (
        "src/snnkd/verdicts/claims_spec.py",
        "src/snnkd/results/stats.py",
        "src/snnkd/results/tradeoff.py",
    ):
        assert missing_deps(imported["claims"], [d for d in deps if d != dropped]) == [dropped]


def test_every_plan_name_reaching_a_verdict_command_is_checked(checkout, capsys):
    """A hand-edited record naming a shell word is refused before the plan is used."""
    assert main(["suite", "add", "evidence"]) == 0
    data = yaml.safe_load(checkout.read_text())
    data["plan"]["tuning"] = {"evidence": {"suite": "evidence", "against": "x;touch PWNED"}}
    checkout.write_text(yaml.safe_dump(data))
    one_line_error(capsys, main(["suite", "check"]), "plan.tuning.evidence.against: 'x;touch PWNED'")
    assert not list(checkout.parent.rglob("PWNED*"))
