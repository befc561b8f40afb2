"""Start-up cost (issue 11, item 1): importing the trainer loads no heavy library, and a training
run imports no library it does not use. (Creating torch's optimizers imports ``torch._dynamo``: its
1.5 CPU s per process are not worth patching torch's private wrappers, results/perf.md, issue 26.)

Every check runs in a fresh interpreter (the venv's python): ``sys.modules`` of the
test process already holds whatever other tests imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

NOT_NEEDED = ["optuna", "statsmodels", "matplotlib"]
#: what importing the trainer does not load; a training run loads it with its optimizer
COMPILER = ["torch._dynamo", "sympy"]


def _python(code: str, tmp_path, **env: str) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last, which is returned."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_trainer_and_dataset_registry_import_no_heavy_library(tmp_path):
    """Importing the trainer, every dataset, tracking and the CLI loads none of them.

    SciPy, scikit-learn and pandas load only when a dataset's loader needs them
    (digits, mnist1d and mnist-5k split with scikit-learn; speech-commands reads WAVs with SciPy).
    """
    code = """
        import json, sys
        import snnkd.cli.main, snnkd.data, snnkd.methods, snnkd.tracking.log, snnkd.trainer.loop
        print(json.dumps(sorted(sys.modules)))
    """
    loaded = set(_python(code, tmp_path))
    heavy = NOT_NEEDED + COMPILER + ["mlflow", "scipy", "sklearn", "pandas"]
    assert loaded.isdisjoint(heavy), sorted(loaded.intersection(heavy))


def test_training_run_imports_no_unused_library(tmp_path):
    """``snnkd train`` on digits, 1 epoch, untracked: no MLflow, Optuna, statsmodels, matplotlib."""
    code = f"""
        import json, sys
        from snnkd.cli.main import main
        code = main(["train", "--dataset", "digits", "--epochs", "1", "--out", {str(tmp_path / "run")!r},
                     "--no-track", "--quiet"])
        print(json.dumps({{"code": code, "loaded": sorted(sys.modules)}}))
    """
    result = _python(code, tmp_path)
    assert result["code"] == 0 and (tmp_path / "run" / "metrics.json").exists()
    loaded = set(result["loaded"])
    assert loaded.isdisjoint(NOT_NEEDED + ["mlflow"]), sorted(loaded.intersection(NOT_NEEDED + ["mlflow"]))


def test_tracked_run_imports_mlflow_but_not_tuning_or_statistics(tmp_path):
    code = f"""
        import json, sys
        from snnkd.cli.main import main
        code = main(["train", "--dataset", "digits", "--epochs", "1", "--out", {str(tmp_path / "run")!r},
                     "--quiet"])
        print(json.dumps({{"code": code, "loaded": sorted(sys.modules)}}))
    """
    result = _python(code, tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    loaded = set(result["loaded"])
    assert result["code"] == 0 and "mlflow" in loaded
    assert loaded.isdisjoint(NOT_NEEDED), sorted(loaded.intersection(NOT_NEEDED))
