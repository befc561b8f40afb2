"""Early stopping, best-weight restore, the epoch-1 evaluation fix and the plateau of committed curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from snnkd.trainer.early_stopping import EarlyStopping, last_quarter_gain
from tests.conftest import small_config, train_run

ROOT = Path(__file__).resolve().parents[1]


def test_stopper_counts_epochs_without_a_gain_above_min_delta():
    model = torch.nn.Linear(2, 1)
    stop = EarlyStopping(patience=2, min_delta=0.01)
    curve = [0.50, 0.60, 0.605, 0.61, 0.62, 0.62]
    decisions = []
    for epoch, value in enumerate(curve, 1):
        decisions.append(stop.update(epoch, value, model))
        if decisions[-1]:
            break
    # 0.605 and 0.61 are within 0.01 of 0.60: two epochs without a gain -> stop after epoch 4
    assert decisions == [False, False, False, True]
    assert stop.best == 0.60 and stop.best_epoch == 2 and stop.stopped


def test_last_quarter_gain_by_hand():
    assert last_quarter_gain([0.1, 0.5, 0.7, 0.8]) == pytest.approx(0.1)  # last quarter [0.8] vs 0.7
    assert last_quarter_gain([0.9, 0.95, 0.95, 0.94, 0.95, 0.95, 0.93, 0.94]) == pytest.approx(-0.01)
    assert last_quarter_gain([0.5, 0.6]) == 0.0


def test_stops_early_and_restores_the_best_validation_weights(tmp_path):
    from snnkd.evaluation import metrics as M
    from snnkd.evaluation.evaluate import _eval_encoder

    cfg = small_config(train__epochs=40, train__patience=2, train__lr=0.002)
    run, metrics = train_run(cfg, tmp_path)
    vals = [h["val_accuracy"] for h in run.history]
    best = max(vals)
    assert metrics["stopped_early"] and len(vals) < 40
    assert metrics["best_epoch"] == vals.index(best) + 1
    assert len(vals) == metrics["best_epoch"] + 2  # patience 2
    assert metrics["val_accuracy"] == pytest.approx(best)  # the restored weights score the best epoch
    again = M.accuracy(run.model, run.data.val, _eval_encoder(run), 512, run.device)
    assert again == pytest.approx(best)


def test_resumed_early_stopping_run_ends_like_an_uninterrupted_one(tmp_path):
    cfg = small_config(train__epochs=40, train__patience=2)
    _, full = train_run(cfg, tmp_path / "full")
    from snnkd.trainer.loop import fit
    from snnkd.trainer.run import prepare

    run = prepare(cfg)
    fit(run, tmp_path / "cut", show_progress=False, stop_after=2)
    resumed = fit(prepare(cfg), tmp_path / "cut", show_progress=False, resume=True)
    for key in ("test_accuracy", "val_accuracy", "epochs", "best_epoch", "spikes_per_sample"):
        assert resumed[key] == full[key]


def test_epoch_one_evaluation_is_far_above_chance(tmp_path):
    """BN running statistics recomputed before evaluating: after 1 digits epoch eval mode works."""
    from spikingjelly.activation_based import functional

    from snnkd.evaluation.evaluate import _eval_encoder

    run, metrics = train_run(small_config(train__epochs=1), tmp_path)
    assert run.history[0]["val_accuracy"] > 0.5  # it was exactly 0.100 (chance) before the fix
    model, encode, x, y = run.model, _eval_encoder(run), run.data.val.x, run.data.val.y
    with torch.no_grad():
        model.eval()
        eval_acc = float((model.logits(model(encode(x))).argmax(1) == y).float().mean())
        functional.reset_net(model)
        model.train()  # batch statistics: what the network learned, without running estimates
        batch_acc = float((model.logits(model(encode(x))).argmax(1) == y).float().mean())
        functional.reset_net(model)
    assert eval_acc == pytest.approx(run.history[0]["val_accuracy"])
    assert abs(eval_acc - batch_acc) < 0.05


def _committed_curves() -> list[Path]:
    return sorted((ROOT / "results").glob("**/runs/*/*/seed*/curve.csv"))


def _short_patience(curve: str) -> bool:
    """Whether the suite and dataset of a committed curve (``results/<suite>/runs/<dataset>/...``)
    have a budget whose patience is below a quarter of its epochs: params.yaml's rule for a plateau
    (patience >= epochs / 4) does not hold, so the suite does not promise one."""
    import yaml

    _, suite, _, dataset = curve.split("/")[:4]
    data = yaml.safe_load((ROOT / "params.yaml").read_text())["suites"].get(suite)
    train = ((data or {}).get("budgets", {}).get(dataset) or {}).get("train", {})
    return "patience" in train and 4 * train["patience"] < train["epochs"]


def _stopped_early(curve: str) -> bool:
    """Whether the committed run of ``curve`` was stopped by early stopping (its ``run.json``),
    rather than by its epoch cap."""
    import json

    return bool(json.loads((ROOT / curve).with_name("run.json").read_text()).get("stopped_early"))


def test_every_committed_student_curve_ends_on_a_plateau():
    curves = _committed_curves()
    if not curves:
        pytest.skip("no committed runs")
    gains = {
        str(path.relative_to(ROOT)): last_quarter_gain(list(pd.read_csv(path)["val_accuracy"]))
        for path in curves
    }
    rising = {k: round(100 * v, 2) for k, v in gains.items() if v >= 0.01}
    capped = {k: v for k, v in rising.items() if not _stopped_early(k)}
    promised = {k: v for k, v in rising.items() if not _short_patience(k) and k not in capped}
    assert not promised, (
        f"{len(promised)} of {len(gains)} early-stopped committed curves add >= 1 point at the end: "
        f"{promised}"
    )
    # quant-evidence keeps the former script's patience 8 of 60 epochs (its README says so); a run
    # that reached its epoch cap still rising was ended by the budget, not by early stopping: the
    # default suite's mnist1d quant seed 4 (README: Results and measurements) is one
    if rising:
        pytest.xfail(
            f"{len(rising)} curves add >= 1 point at the end, of suites with patience < epochs / 4 or "
            f"ended at the epoch cap ({len(capped)}: {capped}): {rising}"
        )
