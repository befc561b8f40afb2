"""``snnkd quant-evidence``: the quantization tables from a suite's runs, checked on a hand-written
results folder with hand-computed means, CIs, paired differences and Holm p-values; the committed
``results/quant-evidence`` tables follow from the committed runs; bad input is one line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from conftest import one_line_error
from run_folders import tree, write_run
from scipy.stats import t as student

from snnkd.cli.main import main
from snnkd.verdicts import quant

REPO = Path(__file__).resolve().parents[1]
T95 = student.ppf(0.975, 2)  # three seeds
#: run name -> (method, scheme, bits, test accuracies of seeds 0, 1, 2); names are free (aliases)
RUNS = {
    "scratch": ("scratch", None, 32, [0.90, 0.92, 0.94]),
    "quant-lsq-b2": ("quant", "lsq", 2, [0.85, 0.86, 0.87]),
    "md-snn-lsq-b2": ("md-snn", "lsq", 2, [0.87, 0.88, 0.90]),
    "quant-mint-b2": ("quant", "mint", 2, [0.86, 0.88, 0.90]),
    "md-snn-mint-b2": ("md-snn", "mint", 2, [0.86, 0.87, 0.89]),
    "kd": ("kd", None, 32, [0.99, 0.99, 0.99]),  # not a quantization run: left out
}


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results" / "quant-evidence"
    train = {"optimizer": "adam", "lr": 0.002, "batch_size": 64, "epochs": 60, "patience": 8}
    for name, (method, scheme, bits, accs) in RUNS.items():
        for seed, acc in enumerate(accs):
            cfg = {"method": method, "T": 4, "model": "student", "encoder": "direct", "train": train}
            cfg["quant"] = {"scheme": scheme or "lsq", "weight_bits": 4}  # scratch's unused default
            if method == "md-snn":
                cfg["hparams"] = {"tau": 4.0, "alpha": 0.5, "beta": 1.0}
            teacher = {"path": f"results/quant-evidence/checkpoints/toy/scratch/seed{seed}.pt", "sha256": "0"}
            write_run(root, "toy", name, seed, config=cfg, teacher=teacher if method == "md-snn" else None,
                      test_accuracy=acc, weight_bits=bits, epochs=10 + seed, model_size_bits=1000.0 * bits,
                      spikes_per_sample=100.0 + seed, spikesim_energy_pj=2000.0)  # fmt: skip
    return root


def _line(text: str, start: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(start)]
    return line


def test_tables_match_the_hand_computation(results, capsys):
    assert main(["quant-evidence", "--results", str(results)]) == 0
    md = (results / "quant.md").read_text()
    se = 2 / math.sqrt(3)  # scratch: 90, 92, 94 %, s = 2
    assert _line(md, "| 4 | scratch (FP) |") == (
        f"| 4 | scratch (FP) | fp | 32 | 3 | 92.00 [{92 - T95 * se:.2f}, {92 + T95 * se:.2f}] "
        "| 11.0 | 32.0 | 101 | 2.0 |"
    )
    assert _line(md, "| 4 | scratch (FP) |").startswith(
        "| 4 | scratch (FP) | fp | 32 | 3 | 92.00 [87.03, 96.97] |"
    )
    # md-snn − quant, lsq: d = 2, 2, 3 pp (t = 7); mint: d = 0, −1, −1 pp (t = −2); Holm over the two
    p_lsq, p_mint = 2 * student.sf(7, 2), 2 * student.sf(2, 2)
    holm_lsq, holm_mint = 2 * p_lsq, max(2 * p_lsq, p_mint)
    lsq = _line(md, "| 4 | lsq | 2 | 92.00 |")
    assert lsq == (
        f"| 4 | lsq | 2 | 92.00 | 86.00 | 88.33 | +2.33 [{7 / 3 - T95 / 3:+.2f}, {7 / 3 + T95 / 3:+.2f}] "
        f"| {p_lsq:.3f} | {holm_lsq:.3f} | recovers {100 * (7 / 3) / 6:.0f} % of the 6.00 pp lost |"
    )
    assert lsq.endswith("| 0.020 | 0.040 | recovers 39 % of the 6.00 pp lost |")
    half = T95 * (1 / math.sqrt(3)) / math.sqrt(3)
    assert _line(md, "| 4 | mint | 2 | 92.00 |") == (
        f"| 4 | mint | 2 | 92.00 | 88.00 | 87.33 | -0.67 [{-2 / 3 - half:+.2f}, {-2 / 3 + half:+.2f}] "
        f"| {p_mint:.3f} | {holm_mint:.3f} | quant lost 4.00 pp; no recovery distinguishable from noise |"
    )
    # mint − lsq: quant d = 1, 2, 3 (t = 2√3); md-snn d = −1, −1, −1 (no spread: p 0, the CI a point)
    p_quant = 2 * student.sf(2 * math.sqrt(3), 2)
    assert _line(md, "| 4 | quant | 2 |") == (
        f"| 4 | quant | 2 | +2.00 [{2 - T95 / math.sqrt(3):+.2f}, {2 + T95 / math.sqrt(3):+.2f}] "
        f"| {p_quant:.3f} | {p_quant:.3f} |"
    )
    assert _line(md, "| 4 | md-snn | 2 |") == "| 4 | md-snn | 2 | -1.00 [-1.00, -1.00] | 0.0e+00 | 0.0e+00 |"
    assert (
        "| T_s (teacher T = 4) |" in md
        and "md-snn's teacher is the seed's full-precision student at T = 4" in md
    )
    assert "Adam (lr 0.002), batch 64, at most 60 epochs, early stopping with patience 8" in md
    assert "3 seeds; md-snn at τ = 4.0, α = 0.5, β = 1.0" in md and "kd" not in md.split("## toy")[1]
    rows = quant.read_rows(results / "quant.csv")
    assert len(rows) == 15 and {r["method"] for r in rows} == {"scratch (FP)", "quant", "md-snn"}
    assert rows[0] == {
        "dataset": "toy", "method": "md-snn", "scheme": "lsq", "bits": 2, "T": 4, "seed": 0,
        "test_accuracy": 0.87, "val_accuracy": 0.9, "epochs_trained": 10, "model_size_bits": 2000.0,
        "spikes_per_sample": 100.0, "energy_pj": None, "spikesim_energy_pj": 2000.0, "edap_ratio": None,
    }  # fmt: skip
    assert capsys.readouterr().out.strip() == f"wrote {results / 'quant.csv'} and {results / 'quant.md'}"


def test_committed_tables_follow_from_committed_runs(tmp_path, monkeypatch):
    """results/quant-evidence/quant.{csv,md} (the quant-evidence@quant-evidence stage) follow from the
    suite's committed run files, byte for byte (the stage's command, run from the checkout)."""
    folder = REPO / "results" / "quant-evidence"
    if not (folder / "quant.md").is_file():
        pytest.skip("no committed results/quant-evidence")
    monkeypatch.chdir(REPO)
    assert main(["quant-evidence", "--results", "results/quant-evidence", "--out", str(tmp_path)]) == 0
    for name in ("quant.csv", "quant.md"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
    rows = quant.read_rows(folder / "quant.csv")
    assert all(isinstance(r["seed"], int) and isinstance(r["bits"], int) for r in rows)
    assert len(rows) == 18 * 5  # 18 runs of the suite on digits, 5 seeds


def test_read_rows_types_numbers(tmp_path):
    path = tmp_path / "quant.csv"
    path.write_text(
        "dataset,method,scheme,bits,T,seed,test_accuracy,val_accuracy,epochs_trained,model_size_bits,"
        "spikes_per_sample,energy_pj,spikesim_energy_pj,edap_ratio\n"
        "digits,quant,mint,2,4,3,0.95,0.96,31,14000,600.5,1.0,2.0,\n"
    )
    (row,) = quant.read_rows(path)
    assert row == {
        "dataset": "digits", "method": "quant", "scheme": "mint", "bits": 2, "T": 4, "seed": 3,
        "test_accuracy": 0.95, "val_accuracy": 0.96, "epochs_trained": 31, "model_size_bits": 14000.0,
        "spikes_per_sample": 600.5, "energy_pj": 1.0, "spikesim_energy_pj": 2.0, "edap_ratio": None,
    }  # fmt: skip


def test_a_teacher_outside_the_folder_reads_as_unknown(results):
    for folder in (results / "runs" / "toy").glob("md-snn-*/seed*"):
        text = (folder / "run.json").read_text().replace("/scratch/seed", "/elsewhere/seed")
        (folder / "run.json").write_text(text)
    assert main(["quant-evidence", "--results", str(results)]) == 0
    assert "| T_s (teacher T = ?) |" in (results / "quant.md").read_text()


def test_the_suite_expresses_quant_evidences_whole_configuration():
    """benchmarks/quant-evidence.yaml is a valid suite: scratch (T = 4 and 2), quant and md-snn at 2 and
    4 bits, lsq and mint, at T = 4 and T = 2 (md-snn's teacher: the T = 4 scratch run), as aliases."""
    from snnkd.pipeline import suite

    s = suite.load(REPO / "benchmarks" / "quant-evidence.yaml")
    cells = [f"{m}-{q}-b{b}{t}" for t in ("", "-t2") for m in ("quant", "md-snn") for q in ("lsq", "mint")
             for b in (2, 4)]  # fmt: skip
    assert sorted(s.run_names()) == sorted(["scratch", "scratch-t2", *cells])
    assert s.datasets == ["digits"]  # mnist-5k is one line away in the file
    cfg = s.method_config("digits", "md-snn-lsq-b2", 0, tuned=False)
    assert cfg["method"] == "md-snn" and cfg["T"] == 4
    assert cfg["quant"] == {"weight_bits": 2, "membrane_bits": 2, "scheme": "lsq"}
    assert cfg["teacher"].endswith("checkpoints/digits/scratch/seed0.pt")
    assert s.method_config("digits", "quant-mint-b4-t2", 0, tuned=False)["T"] == 2


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda r: shutil.rmtree(r), "--results: no folder "),
        (lambda r: shutil.rmtree(r / "runs"), "--results: no runs/ folder in "),
        (lambda r: [shutil.rmtree(p) for p in (r / "runs" / "toy").iterdir()], "--results: no run in "),
        (
            lambda r: [shutil.rmtree(p) for p in (r / "runs" / "toy").iterdir() if p.name != "kd"],
            "--results: no run of scratch, quant, md-snn in ",
        ),
        (
            lambda r: (r / "runs/toy/quant-lsq-b2/seed2/run.json").write_text("[]"),
            "run.json: must hold an object",
        ),
    ],
    ids=["no-folder", "no-runs-folder", "no-run", "no-quantization-run", "damaged-run-json"],
)
def test_bad_input_is_one_line_and_nothing_is_written(results, tmp_path, capsys, make, expected):
    make(results)
    before = tree(tmp_path)
    one_line_error(
        capsys, main(["quant-evidence", "--results", str(results), "--out", str(tmp_path / "o")]), expected
    )
    assert tree(tmp_path) == before


def test_out_must_be_a_folder(results, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = main(["quant-evidence", "--results", str(results), "--out", str(tmp_path / "file")])
    one_line_error(capsys, code, "--out: ")
    assert not (results / "quant.md").exists()


def test_a_setting_is_one_value_or_one_per_dataset():
    assert quant.setting([("a", 1), ("b", 1), ("b", None)]) == "1"
    assert quant.setting([("b", 0.004), ("a", 0.002), ("a", 0.002)]) == "0.002 (a), 0.004 (b)"
    assert quant.setting([("a", 1), ("a", 2)]) == "per run (run.json)"
    assert quant.setting([]) == "–"
