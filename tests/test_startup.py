"""Start-up cost (issue 11, item 1): a training run imports neither ``torch._dynamo`` nor
libraries it does not use, and :mod:`snnkd.trainer.no_dynamo` keeps eager results bit-identical.

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

NOT_NEEDED = ["torch._dynamo", "sympy", "optuna", "statsmodels", "matplotlib"]


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
    heavy = NOT_NEEDED + ["mlflow", "scipy", "sklearn", "pandas"]
    assert loaded.isdisjoint(heavy), sorted(loaded.intersection(heavy))


def test_training_run_imports_no_dynamo_nor_unused_libraries(tmp_path):
    """``snnkd train`` on digits, 1 epoch, untracked: no Dynamo, MLflow, Optuna, statsmodels."""
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


# Each optimizer snnkd builds, stepped through what training and resuming use: a scheduler,
# zero_grad, a step pre-hook, state_dict/load_state_dict and a parameter group added later.
OPTIMIZERS = """
    import json, sys
    import torch

    def run(name):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
        extra = torch.nn.Parameter(torch.ones(3))
        opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
               "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-4),
               "adamw": lambda p: torch.optim.AdamW(p, lr=0.01)}[name](model.parameters())
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
        calls = []
        opt.register_step_pre_hook(lambda *_: calls.append(torch.is_grad_enabled()))
        x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
        for i in range(4):
            if i == 2:
                opt.add_param_group({"params": [extra]})
                opt.load_state_dict(opt.state_dict())
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x) * extra, y)
            loss.backward()
            opt.step()
            sched.step()
        weights = [p.detach().flatten().tolist() for p in [*model.parameters(), extra]]
        return {"weights": weights, "pre_hook_calls": calls, "grad_after": torch.is_grad_enabled()}
"""


def test_optimizers_skip_dynamo_and_match_torch_bit_for_bit(tmp_path):
    """With :func:`install`, SGD/Adam/AdamW give exactly torch's numbers, hooks and grad mode."""
    eager = _python(
        OPTIMIZERS
        + """
    from snnkd.trainer import no_dynamo
    active = no_dynamo.install()
    out = {n: run(n) for n in ("sgd", "adam", "adamw")}
    print(json.dumps({"active": active, "again": no_dynamo.install(), "out": out,
                      "dynamo": "torch._dynamo" in sys.modules}))
    """,
        tmp_path,
    )
    stock = _python(
        OPTIMIZERS
        + """
    import torch._dynamo  # torch's own wrappers: install() changes nothing
    from snnkd.trainer import no_dynamo
    active = no_dynamo.install()
    print(json.dumps({"active": active, "out": {n: run(n) for n in ("sgd", "adam", "adamw")}}))
    """,
        tmp_path,
    )
    assert eager["active"] and eager["again"] and not eager["dynamo"]
    assert not stock["active"]
    assert eager["out"] == stock["out"]  # floats through JSON's repr: bit-identical
    assert len(eager["out"]["adam"]["pre_hook_calls"]) == 4 and eager["out"]["adam"]["grad_after"]


def test_hands_over_to_torch_once_dynamo_is_imported(tmp_path):
    """After ``import torch._dynamo`` the cached entry becomes torch's own ``disable`` wrapper."""
    result = _python(
        """
        import json, sys
        import torch
        from snnkd.trainer import no_dynamo
        no_dynamo.install()
        fn = torch.optim.Optimizer.add_param_group.__wrapped__
        opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))])
        before = type(getattr(fn, "__dynamo_disable")).__name__
        import torch._dynamo
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
        after = getattr(fn, "__dynamo_disable")
        print(json.dumps({"before": before, "after_is_torch": after.__module__.startswith("torch._dynamo"),
                          "install_now": no_dynamo.install()}))
        """,
        tmp_path,
    )
    assert result == {"before": "_PlainUntilDynamo", "after_is_torch": True, "install_now": False}
