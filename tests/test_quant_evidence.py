"""The quantization evidence (results/quant.md) is rebuilt from its committed per-run rows."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("quant_evidence", ROOT / "benchmarks" / "quant_evidence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_tables_follow_from_committed_rows():
    qe = _script()
    rows = qe.read_rows(ROOT / "results" / "quant.csv")
    assert all(isinstance(r["seed"], int) and isinstance(r["bits"], int) for r in rows)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    variant = [d for d in datasets if any(r["T"] == 2 and r["dataset"] == d for r in rows)]
    args = argparse.Namespace(
        datasets=datasets, seeds=5, epochs=60, patience=8, bits=[2, 4], schemes=["lsq", "mint"],
        student_steps=[2], variant_datasets=variant,
    )  # fmt: skip
    summary = qe.summarise(rows, args)
    committed = (ROOT / "results" / "quant.md").read_text()
    tables = summary.split("\n## ", 1)[1]  # everything after the method paragraph
    assert "\n## " + tables in committed


def test_read_rows_types_numbers(tmp_path):
    qe = _script()
    path = tmp_path / "quant.csv"
    path.write_text(
        "dataset,method,scheme,bits,T,seed,test_accuracy,val_accuracy,epochs_trained,model_size_bits,"
        "spikes_per_sample,energy_pj,spikesim_energy_pj,edap_ratio\n"
        "digits,quant,mint,2,4,3,0.95,0.96,31,14000,600.5,1.0,2.0,\n"
    )
    (row,) = qe.read_rows(path)
    assert row == {
        "dataset": "digits", "method": "quant", "scheme": "mint", "bits": 2, "T": 4, "seed": 3,
        "test_accuracy": 0.95, "val_accuracy": 0.96, "epochs_trained": 31, "model_size_bits": 14000.0,
        "spikes_per_sample": 600.5, "energy_pj": 1.0, "spikesim_energy_pj": 2.0, "edap_ratio": None,
    }  # fmt: skip
