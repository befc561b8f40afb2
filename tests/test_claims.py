"""``snnkd claims``: hand-computed rows on a hand-written results folder, and
bad input refused in one line (the committed ``claims.md`` files are rebuilt byte for byte by
``tests/test_leaderboard.py``, with each suite's tables)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from conftest import one_line_error
from run_folders import tree, write_method, write_run
from scipy.stats import t as student

from snnkd.cli.main import main
from snnkd.verdicts import claims_spec

REPO = Path(__file__).resolve().parents[1]

CLAIMS = """\
suite: toy
reference: scratch
claims:
  a:
    text: "KD gains accuracy and cuts spikes (toy)"
    compare:
      - {method: kd, against: scratch, metric: test_accuracy, want: gain}
      - {method: kd, against: scratch, metric: spikes_per_sample, want: cut}
  b:
    text: "KD-MSE is as accurate as scratch (toy)"
    compare:
      - {method: kd-mse, against: scratch, metric: test_accuracy, want: equal}
"""


@pytest.fixture
def toy(tmp_path):
    """Three seeds on one dataset: kd gains 1, 2, 3 points and cuts 10, 11, 9 spikes of
    scratch's 100, 110, 120; kd-mse gains 0.1, 0.2, 0.3 points."""
    results = tmp_path / "results" / "toy"
    base = [0.90, 0.91, 0.92]
    for seed, (acc, spikes) in enumerate(zip(base, [100.0, 110.0, 120.0], strict=True)):
        write_run(results, "toy", "scratch", seed, test_accuracy=acc, spikes_per_sample=spikes)
    for seed, (d, cut) in enumerate(zip([0.01, 0.02, 0.03], [10.0, 11.0, 9.0], strict=True)):
        spikes = [100.0, 110.0, 120.0][seed] - cut
        write_run(results, "toy", "kd", seed, test_accuracy=base[seed] + d, spikes_per_sample=spikes)
    write_method(
        results,
        "toy",
        "kd-mse",
        "test_accuracy",
        [b + d for b, d in zip(base, [0.001, 0.002, 0.003], strict=True)],
    )
    spec = tmp_path / "toy.yaml"
    spec.write_text(CLAIMS)
    return results, spec


def _run(results: Path, spec: Path, out: Path, *extra: str) -> int:
    return main(["claims", "--results", str(results), "--claims", str(spec), "--out", str(out), *extra])


def test_rows_match_the_hand_computation(toy, tmp_path, capsys):
    results, spec = toy
    out = tmp_path / "claims.md"
    assert _run(results, spec, out, "--margin-pp", "0.5") == 0
    text = out.read_text()
    t95 = student.ppf(0.975, 2)
    # kd − scratch accuracy: d = 1, 2, 3 pp, mean 2, s = 1, se = 1/√3
    se = 1 / math.sqrt(3)
    p_acc = 2 * student.sf(2 / se, 2)
    # spikes: d = −10, −11, −9, mean −10, s = 1; in % of scratch's mean 110
    p_spk = 2 * student.sf(10 / se, 2)
    holm_spk, holm_acc = 2 * p_spk, max(2 * p_spk, p_acc)  # Holm over the claim's two comparisons
    acc_row = (
        f"| toy | kd − scratch | accuracy | 3 | +2.00 pp [{2 - t95 * se:+.2f}, {2 + t95 * se:+.2f}] (95%) "
        f"| paired t | {holm_acc:.3f} | {'yes' if holm_acc < 0.05 else 'no (noise)'} |"
    )
    scale = 100 / 110
    spk_row = (
        f"| toy | kd − scratch | spikes/sample | 3 | {-10 * scale:+.2f} % "
        f"[{(-10 - t95 * se) * scale:+.2f}, {(-10 + t95 * se) * scale:+.2f}] (95%) "
        f"| paired t | {holm_spk:.3f} | yes |"
    )
    assert acc_row == (
        "| toy | kd − scratch | accuracy | 3 | +2.00 pp [-0.48, +4.48] (95%) "
        "| paired t | 0.074 | no (noise) |"
    )
    assert acc_row in text and spk_row in text
    # kd-mse − scratch at equal accuracy, δ = 0.5 pp: d = 0.1, 0.2, 0.3 pp, se = 0.1/√3
    se = 0.1 / math.sqrt(3)
    p_low, p_up = student.sf((0.2 + 0.5) / se, 2), student.cdf((0.2 - 0.5) / se, 2)
    half = student.ppf(0.95, 2) * se
    tost_row = (
        f"| toy | kd-mse − scratch | accuracy | 3 | +0.20 pp [{0.2 - half:+.2f}, {0.2 + half:+.2f}] (90%) "
        f"| TOST ±δ | {max(p_low, p_up):.3f} (non-inferiority {p_low:.3f}) | equivalent within δ |"
    )
    assert tost_row in text
    assert "## (a) KD gains accuracy and cuts spikes (toy)" in text and "## (b) KD-MSE" in text
    assert "Power: with 3 seeds" in text and "its smallest two-sided p is 0.25" in text
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_default_out_is_in_the_results_folder(toy, capsys):
    results, spec = toy
    assert main(["claims", "--results", str(results), "--claims", str(spec), "--margin-pp", "1"]) == 0
    assert (results / "claims.md").is_file()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda r: shutil.rmtree(r), "--results: no folder "),
        (lambda r: shutil.rmtree(r / "runs"), "--results: no runs/ folder in "),
        (lambda r: [shutil.rmtree(p) for p in (r / "runs").iterdir()], "--results: no run in "),
        (
            lambda r: (r / "runs/toy/kd/seed1/metrics.json").write_text("{"),
            "seed1: metrics.json: not valid JSON",
        ),
        (
            lambda r: (r / "runs/toy/kd/seed1/metrics.json").write_text('{"test_accuracy": 7.5}'),
            "metrics.json: spikes_per_sample: missing",
        ),
    ],
    ids=["no-folder", "no-runs-folder", "no-run", "damaged-json", "damaged-number"],
)
def test_bad_results_are_one_line_and_nothing_is_written(toy, tmp_path, capsys, make, expected):
    results, spec = toy
    make(results)
    out = tmp_path / "out" / "claims.md"
    before = tree(tmp_path)
    one_line_error(capsys, _run(results, spec, out, "--margin-pp", "0.5"), expected)
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CLAIMS.replace("reference:", "referenc:"), "referenc: unknown field"),
        (
            CLAIMS.replace("metric: test_accuracy, want: equal", "metric: spikes_per_sample, want: equal"),
            "claims.b.compare.0: want: equal (TOST within the accuracy margin δ) needs metric: test_accuracy",
        ),
        (CLAIMS.replace("want: gain}", "want: more}", 1), "claims.a.compare.0.want: Input should be"),
        ("[1, 2]", "must hold a mapping"),
        (CLAIMS.replace("suite: toy", "suite: ../toy"), "toy.yaml: suite: '../toy' is not a valid name"),
        ("suite: [", "not valid YAML"),
    ],
    ids=["unknown-field", "equal-on-spikes", "unknown-want", "not-a-mapping", "bad-suite-name", "not-yaml"],
)
def test_bad_claims_files_are_one_line(toy, tmp_path, capsys, text, expected):
    results, spec = toy
    spec.write_text(text)
    out = tmp_path / "claims.md"
    one_line_error(capsys, _run(results, spec, out, "--margin-pp", "0.5"), expected)
    assert not out.exists()


def test_missing_claims_file_and_margin_are_one_line(toy, tmp_path, capsys, monkeypatch):
    results, spec = toy
    out = tmp_path / "claims.md"
    one_line_error(capsys, _run(results, tmp_path / "none.yaml", out), "--claims: no file ")
    monkeypatch.chdir(tmp_path)  # no benchmarks/toy.yaml to read the margin from
    one_line_error(capsys, _run(results, spec, out), "--margin-pp: not given, and no benchmarks/toy.yaml")
    one_line_error(capsys, _run(results, spec, out, "--margin-pp", "0"), "--margin-pp: must be > 0, got 0.0")
    one_line_error(
        capsys, _run(results, spec, out, "--margin-pp", "x"), "argument --margin-pp: invalid float"
    )
    one_line_error(capsys, main(["claims"]), "the following arguments are required: --results")
    assert not out.exists()


def test_the_evidence_claims_name_the_evidence_suites_methods():
    """Every method a declared claim compares is one of the evidence suite's."""
    from snnkd.pipeline import suite

    spec = claims_spec.load(REPO / "benchmarks" / "claims" / "evidence.yaml")
    methods = set(suite.load(REPO / "benchmarks" / f"{spec.suite}.yaml", full=False).methods)
    for claim in spec.claims.values():
        for cmp in claim.compare:
            assert {cmp.method, cmp.against} <= methods
        assert set(claim.iso_accuracy) <= methods
    assert spec.reference in methods


def test_a_compared_metric_missing_from_a_run_is_one_line(toy, tmp_path, capsys):
    results, spec = toy
    spec.write_text(CLAIMS.replace("metric: spikes_per_sample, want: cut", "metric: synops, want: cut"))
    out = tmp_path / "claims.md"
    expected = "--results: runs/toy/kd/seed0/metrics.json: synops: missing (a claim compares it)"
    one_line_error(capsys, _run(results, spec, out, "--margin-pp", "0.5"), expected)
    assert not out.exists()
