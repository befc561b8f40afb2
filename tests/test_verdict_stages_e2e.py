"""`dvc repro claims@smoke` in a copy of the smoke checkout after its `dvc repro`: the smoke suite gets
a tiny claims file, the plan a `claims@smoke` stage; the stage writes results/smoke/claims.md as
`snnkd claims --results results/smoke` does, re-runs nothing the second time, and leaves every
training stage up to date."""

from __future__ import annotations

import shutil

import pytest
from smoke_repo import sh

CLAIMS = """\
suite: smoke
reference: scratch
claims:
  a:
    text: "KD students beat scratch students (Hinton KD)"
    compare:
      - {method: kd, against: scratch, metric: test_accuracy, want: gain}
      - {method: kd, against: scratch, metric: spikes_per_sample, want: cut}
"""


def _ran(out: str) -> set[str]:
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}


@pytest.fixture(scope="module")
def claimed(smoke_plain, tmp_path_factory):
    plain, env, _ = smoke_plain
    repo = tmp_path_factory.mktemp("claims-stage") / "repo"
    shutil.copytree(plain, repo, symlinks=True)  # the built smoke checkout, left as it is for others
    (repo / "benchmarks" / "claims" / "smoke.yaml").write_text(CLAIMS)
    sh(["snnkd", "suite", "plan"], repo, env)
    first = sh(["dvc", "repro", "claims@smoke"], repo, env)
    second = sh(["dvc", "repro", "claims@smoke"], repo, env)
    return repo, env, first, second


def test_the_claims_stage_writes_what_the_command_writes(claimed):
    repo, env, first, _ = claimed
    assert _ran(first) == {"setup", "claims@smoke"}  # setup's checked file kept its bytes
    sh(["snnkd", "claims", "--results", "results/smoke", "--out", "by-hand.md"], repo, env)
    staged = (repo / "results" / "smoke" / "claims.md").read_bytes()
    assert staged == (repo / "by-hand.md").read_bytes()
    assert b"Hinton KD" in staged


def test_a_second_repro_runs_nothing(claimed):
    repo, env, _, second = claimed
    assert _ran(second) == set()
    assert sh(["dvc", "status", "claims@smoke"], repo, env).strip().endswith("up to date.")
