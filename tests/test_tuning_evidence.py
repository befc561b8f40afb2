"""``snnkd tuning-evidence``: hand-computed rows on hand-written tuned and default results
folders, the committed ``results/default/tuning.md`` rebuilt byte for byte, bad input refused in one line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from conftest import one_line_error
from run_folders import tree, write_run
from scipy.stats import t as student

from snnkd.cli.main import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def suites(tmp_path):
    """kd tuned gains 2, 2, 3 points over its defaults; scratch is the same run in both."""
    tuned, default = tmp_path / "results" / "default", tmp_path / "results" / "evidence"
    for seed in range(3):
        base = 0.90 + 0.01 * seed
        write_run(tuned, "toy", "kd", seed, test_accuracy=base + [0.02, 0.02, 0.03][seed],
                  spikes_per_sample=[95.0, 100.0, 105.0][seed])  # fmt: skip
        write_run(default, "toy", "kd", seed, test_accuracy=base, spikes_per_sample=100.0)
        for root in (tuned, default):
            write_run(root, "toy", "scratch", seed, test_accuracy=0.8, spikes_per_sample=50.0 + seed)
    write_run(tuned, "other", "kd", 0)  # a dataset the defaults suite did not run: no table
    choices = tuned / "tuned" / "toy"
    choices.mkdir(parents=True)
    (choices / "kd.yaml").write_text("# Tuned by `snnkd tune`\nhparams: {alpha: 0.358712, tau: 1.6391}\n")
    (choices / "scratch.yaml").write_text("# Not tuned: nothing to search.\nhparams: {}\n")
    return tuned, default


def test_rows_match_the_hand_computation(suites, capsys):
    tuned, default = suites
    assert main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default)]) == 0
    text = (tuned / "tuning.md").read_text()
    # kd accuracy: d = 2, 2, 3 pp, mean 7/3, s = 1/√3, se = 1/3; t = 7
    t95, se = student.ppf(0.975, 2), 1 / 3
    p_kd = 2 * student.sf((7 / 3) / se, 2)
    holm_kd = 2 * p_kd  # Holm over kd and scratch (p 1: no difference at all)
    # spikes: d = −5, 0, +5 of the default's 100, s = 5, se = 5/√3
    half = t95 * 5 / math.sqrt(3)
    row = (
        "| kd | 3 | alpha=0.3587, tau=1.639 | 91.00 | 93.33 "
        f"| +2.33 [{7 / 3 - t95 * se:+.2f}, {7 / 3 + t95 * se:+.2f}] "
        f"| {holm_kd:.3f} * | +0.0 [{-half:+.1f}, {half:+.1f}] | 1.000 |"
    )
    assert row == (
        "| kd | 3 | alpha=0.3587, tau=1.639 | 91.00 | 93.33 | +2.33 [+0.90, +3.77] | 0.040 * "
        "| +0.0 [-12.4, +12.4] | 1.000 |"
    )
    assert row in text.splitlines()
    scratch = "| scratch | 3 | – (not tuned) | 80.00 | 80.00 | +0.00 [+0.00, +0.00] | 1.000 "
    assert scratch + "| +0.0 [+0.0, +0.0] | 1.000 |" in text
    # 3 seeds: the smallest two-sided Wilcoxon p is 2 / 2^3 = 0.25, so the column is left out
    assert "p (Wilcoxon)" not in text
    assert "left out: with 3 seeds its smallest two-sided p is 0.25, so it cannot reach 0.05." in text
    assert "## other" not in text and text.count("## toy") == 1
    runs = f"`{(tuned / 'runs').as_posix()}` and `{(default / 'runs').as_posix()}`"
    assert f"Produced by `snnkd tuning-evidence` from {runs}." in text
    assert capsys.readouterr().out.strip() == f"wrote {tuned / 'tuning.md'}"


def test_the_wilcoxon_column_is_shown_where_the_seeds_can_reach_005(tmp_path):
    """6 seeds, every difference +1 point: the exact Wilcoxon p is 2 / 2^6 = 0.03125."""
    tuned, default = tmp_path / "t", tmp_path / "d"
    for seed in range(6):
        write_run(tuned, "toy", "kd", seed, test_accuracy=0.91 + 0.001 * seed)
        write_run(default, "toy", "kd", seed, test_accuracy=0.90 + 0.001 * seed)
    assert main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default)]) == 0
    text = (tuned / "tuning.md").read_text()
    assert "| p (Holm) | p (Wilcoxon) |" in text and "cannot reach 0.05" not in text
    (row,) = [line for line in text.splitlines() if line.startswith("| kd |")]
    assert row.split(" | ")[7] == f"{2 / 2**6:.3f}"


@pytest.mark.parametrize(
    ("shas", "expected"),
    [
        (("a1", "a1"), "Teachers: kd: the same teacher checkpoints in both suites."),
        (("a1", "b2"), "Teachers: kd: **other teacher checkpoints** (same configuration, trained by each "
                       "suite's own stage), so their Δ contains the teachers' difference."),
    ],
    ids=["same", "other"],
)  # fmt: skip
def test_each_dataset_says_whether_the_teachers_are_the_same_checkpoints(tmp_path, shas, expected):
    tuned, default = tmp_path / "t", tmp_path / "d"
    for seed in range(3):
        for root, sha in zip((tuned, default), shas, strict=True):
            write_run(root, "toy", "kd", seed, teacher={"path": "teacher.pt", "sha256": sha})
            write_run(root, "toy", "scratch", seed)  # no teacher: not named
    assert main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default)]) == 0
    text = (tuned / "tuning.md").read_text()
    assert expected in text.splitlines() and "scratch:" not in text


def test_without_choices_every_method_is_the_suites_own(suites, tmp_path):
    tuned, default = suites
    shutil.rmtree(tuned / "tuned")
    out = tmp_path / "t.md"
    assert main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default), "--out", str(out)]) == 0
    assert "| kd | 3 | suite's own (nothing to tune) |" in out.read_text()


def test_the_committed_tuning_evidence_is_rebuilt_byte_for_byte(tmp_path, monkeypatch):
    """The default suite (results/default) tuned against the evidence suite (results/evidence)."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "tuning.md"
    args = ["--tuned", "results/default", "--default", "results/evidence", "--out", str(out)]
    assert main(["tuning-evidence", *args]) == 0
    assert out.read_bytes() == (REPO / "results" / "default" / "tuning.md").read_bytes()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (lambda t, d: ["--tuned", str(t.parent / "none"), "--default", str(d)], "--tuned: no folder "),
        (lambda t, d: ["--tuned", str(t), "--default", str(d / "runs")], "--default: no runs/ folder in "),
        (
            lambda t, d: ["--tuned", str(t), "--default", str(d), "--choices", str(d / "x")],
            "--choices: no folder ",
        ),
        (lambda t, d: ["--tuned", str(t)], "the following arguments are required: --default"),
    ],
    ids=["no-tuned", "default-not-a-results-folder", "no-choices", "no-default"],
)
def test_bad_input_is_one_line_and_nothing_is_written(suites, tmp_path, capsys, args, expected):
    tuned, default = suites
    before = tree(tmp_path)
    one_line_error(capsys, main(["tuning-evidence", *args(tuned, default)]), expected)
    assert tree(tmp_path) == before


def test_no_runs_is_one_line(suites, tmp_path, capsys):
    tuned, default = suites
    shutil.rmtree(default / "runs")
    (default / "runs").mkdir()
    one_line_error(capsys, main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default)]),
                   "--default: no run in ")  # fmt: skip
    assert not (tuned / "tuning.md").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hparams: [", "not a readable YAML file"), ("- 1\n", "expected a mapping with `hparams:`")],
)
def test_a_damaged_choice_is_one_line(suites, capsys, text, expected):
    tuned, default = suites
    (tuned / "tuned" / "toy" / "kd.yaml").write_text(text)
    code = main(["tuning-evidence", "--tuned", str(tuned), "--default", str(default)])
    one_line_error(capsys, code, f"--choices: {tuned / 'tuned' / 'toy' / 'kd.yaml'}: {expected}")
    assert not (tuned / "tuning.md").exists()
