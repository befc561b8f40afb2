"""Several suites in one params.yaml: `snnkd suite add/remove/use`, the shared plan, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import one_line_error

from snnkd.cli.main import main
from snnkd.errors import ConfigError
from snnkd.pipeline import plan, suites
from snnkd.pipeline import suite as S

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ", ".join(sorted(p.stem for p in (REPO / "benchmarks").glob("*.yaml")))


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A checkout-like folder whose params.yaml holds the smoke suite alone; the working directory."""
    (tmp_path / "benchmarks").symlink_to(REPO / "benchmarks")
    (tmp_path / "methods").symlink_to(REPO / "methods")
    monkeypatch.chdir(tmp_path)
    assert main(["suite", "use", "smoke"]) == 0
    return tmp_path / "params.yaml"


def test_add_then_remove_gives_back_the_same_bytes(checkout, capsys):
    before = checkout.read_bytes()
    assert main(["suite", "add", "evidence"]) == 0
    data = yaml.safe_load(checkout.read_text())
    assert list(data["suites"]) == ["smoke", "evidence"] and data["plan"]["suites"] == ["smoke", "evidence"]
    assert data["suites"]["evidence"] == yaml.safe_load((REPO / "benchmarks/evidence.yaml").read_text())
    first = (REPO / "benchmarks/evidence.yaml").read_text().splitlines()[0]
    assert f"\n  evidence:\n    {first}\n" in checkout.read_text()  # the file's text, comments kept
    assert main(["suite", "check"]) == 0
    assert main(["suite", "remove", "evidence"]) == 0
    assert checkout.read_bytes() == before
    assert "dvc repro leaderboard@evidence" in capsys.readouterr().out


def test_the_plan_keys_every_record_by_its_suite_and_shares_the_datasets(checkout):
    assert main(["suite", "add", "evidence"]) == 0
    found = suites.load_all(checkout)
    built = plan.build(found)
    assert built["data"] == ["digits", "mnist1d"]  # digits once, for both suites
    assert {r["suite"] for r in built["runs"].values()} == {"smoke", "evidence"}
    assert all(key.startswith(f"{r['suite']}-{r['dataset']}-") for key, r in built["runs"].items())
    kd = built["runs"]["evidence-digits-kd"]
    assert kd["learns_from"] == "results/evidence/networks/digits/teacher/checkpoint.pt"
    assert (
        built["runs"]["smoke-digits-kd"]["learns_from"]
        == "results/smoke/networks/digits/teacher/checkpoint.pt"
    )
    assert (
        built["runs"]["evidence-digits-md-snn"]["learns_from"]
        == "results/evidence/checkpoints/digits/scratch"
    )
    twin = found["evidence"].method_config("digits", "md-snn", 1)
    assert twin["teacher"] == "results/evidence/checkpoints/digits/scratch/seed1.pt"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["suite", "add", "nope"], f"suite: no benchmarks/nope.yaml; valid choices: {SHIPPED}"),
        (["suite", "add", "../x"], "suite: '../x' is not a valid name ("),
        (["suite", "add", "a;touch PWNED"], "suite: 'a;touch PWNED' is not a valid name ("),
        (["suite", "add", "smoke"], "suite: 'smoke' is already in params.yaml"),
        (["suite", "add"], "suite: expected NAME"),
        (["suite", "remove", "nope"], "suite: 'nope' is not in params.yaml; valid choices: smoke"),
        (["suite", "remove", "smoke"], "suite: 'smoke' is params.yaml's only suite"),
        (
            ["leaderboard", "--suite", "nope", "--no-log"],
            "--suite: suite 'nope' is not in params.yaml; valid",
        ),
    ],
)
def test_a_bad_suite_name_is_one_line_and_writes_nothing(checkout, capsys, argv, expected):
    before = checkout.read_bytes()
    line = one_line_error(capsys, main(argv), expected)
    if "valid name" in line:
        assert line.endswith(f"valid choices: {SHIPPED}")
    assert checkout.read_bytes() == before and not list(checkout.parent.glob("*.tmp"))
    assert not list(checkout.parent.rglob("PWNED*")) and not (checkout.parent / "results").exists()


def test_a_suite_key_must_be_its_name(checkout, capsys):
    data = yaml.safe_load(checkout.read_text())
    data["suites"]["other"] = data["suites"].pop("smoke")
    checkout.write_text(yaml.safe_dump(data))
    one_line_error(capsys, main(["suite", "check"]), "suites.other: suite: 'smoke' must be the suite's key")


def test_two_suites_reading_one_dataset_from_two_folders_are_refused(monkeypatch):
    monkeypatch.chdir(REPO)
    base = yaml.safe_load((REPO / "benchmarks/smoke.yaml").read_text())
    found = {}
    for name in ("a", "b"):
        data = {**base, "suite": name, "datasets": ["fsdd"], "sources": {"fsdd": f"rec-{name}"}}
        data.update(budgets={"fsdd": base["budgets"]["digits"]}, networks={"teacher": {"model": "assistant"}})
        found[name] = S.parse(data)
    with pytest.raises(
        ConfigError, match="suites.b.sources: fsdd is read from rec-b, another suite reads it"
    ):
        plan.build(found)


def test_every_suite_stage_reads_only_its_own_suites_keys():
    """The `params:` of each per-suite stage are under `suites.<its suite>`, or its own plan record
    (a network's: `plan.networks.<suite>-<dataset>-<name>`, built from its suite's entry with that
    dataset's budget alone, snnkd.pipeline.plan.network_settings); shared stages read none."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    own = {"network": ["plan.networks.${key}"], "tune": [], "method": []}
    for name in ("network", "tune", "method"):
        params = stages[name]["do"]["params"]
        suite_keys = [p for p in params if p not in own[name]]
        assert suite_keys and all(p.startswith("suites.${item.suite}.") for p in suite_keys), name
        assert [p for p in params if p in own[name]] == own[name], name
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in stages[name]["do"]["outs"]]
        assert all(o.startswith("results/${item.suite}/") for o in outs), name
        assert "${item.suite}" in stages[name]["do"]["cmd"].split()[3]
    assert stages["leaderboard"]["do"]["params"] == ["suites.${item}"]
    assert all("params" not in stages[name].get("do", stages[name]) for name in ("data", "folder", "setup"))
