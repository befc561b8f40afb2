"""`tune.seeds`: a trial's objective is the mean over the first k seeds' validation scores, so a near tie on
one seed no longer chooses the point, and the chosen point does not depend on the order of the trials."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from snnkd.tune.objective import Objective, train_and_score
from snnkd.tune.spec import TuneSpec
from snnkd.tune.study import summarize

GRID = [0.001, 0.01, 0.1]
# validation accuracy per (seed, lambda_z): seed 0 ties 0.001 and 0.1 exactly, seed 1 separates them
SCORES = {0: {0.001: 0.90, 0.01: 0.85, 0.1: 0.90}, 1: {0.001: 0.92, 0.01: 0.86, 0.1: 0.88}}


def _fake_one(spec, hparams, seed, on_epoch):
    acc = SCORES[seed][hparams["lambda_z"]]
    on_epoch(1, acc)
    return {"val_accuracy": acc, "val_spikes_per_sample": 100.0 * seed + 1.0}


def _study(tmp: Path, spec: TuneSpec, order: list[float], trainer):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for lam in order:
        study.enqueue_trial({"lambda_z": lam})
    study.optimize(Objective(spec, trainer=trainer), n_trials=len(order))
    return summarize(study, spec), study


def _spec(tmp: Path, seeds: tuple[int, ...], **base) -> TuneSpec:
    base = {"dataset": "digits", "method": "logit-reg", "seed": 0, "T": 2, "train": {"epochs": 1}, **base}
    return TuneSpec(base=base, trials=3, storage="journal:///unused", study="ties", mlflow=False,
                    results_dir=str(tmp), seeds=seeds)  # fmt: skip


def test_the_mean_over_two_seeds_breaks_a_one_seed_tie_whatever_the_trial_order(tmp_path):
    trainer = partial(train_and_score, one=_fake_one)
    one_seed = _spec(tmp_path, ())
    forward, _ = _study(tmp_path, one_seed, GRID, trainer)
    backward, _ = _study(tmp_path, one_seed, GRID[::-1], trainer)
    assert forward.params != backward.params  # one seed: the tie goes to whichever trial came first
    two = _spec(tmp_path, (0, 1))
    chosen = {_study(tmp_path, two, order, trainer)[0].params["lambda_z"] for order in (GRID, GRID[::-1])}
    assert chosen == {0.001}  # mean 0.91 against 0.89: the same point in both orders
    result, study = _study(tmp_path, two, [0.01, 0.1, 0.001], trainer)
    assert result.values["val_accuracy"] == pytest.approx(0.91)
    best = study.trials[result.trial].user_attrs
    assert (best["seed0/val_accuracy"], best["seed1/val_accuracy"]) == (0.90, 0.92)
    assert best["val_spikes_per_sample"] == pytest.approx(51.0)  # every metric is the mean
    tuned = (tmp_path / "tuned" / "digits" / "logit-reg.yaml").read_text()
    assert "mean over seeds 0, 1" in tuned and "lambda_z: 0.001" in tuned


def test_the_order_free_tie_break_keeps_the_smallest_values():
    from snnkd.tune.pareto import Point
    from snnkd.tune.study import best

    pts = [Point(0, 0.9, float("nan"), {"lambda_z": 0.1}), Point(1, 0.9, float("nan"), {"lambda_z": 0.01})]
    assert best(pts).number == 0  # one seed: the earliest trial, as before (committed points stay)
    assert best(pts, order_free=True).number == 1 and best(pts[::-1], order_free=True).number == 1


def test_a_grid_study_on_digits_over_two_seeds_chooses_the_same_cell_in_any_trial_order(tmp_path):
    """Real trainings (1 epoch, T = 2): the grid sampler's seed permutes the trials, the choice stays."""
    import optuna

    spec = _spec(tmp_path, (0, 1), device="cpu", train={"epochs": 1, "batch_size": 128, "lr": 0.004})
    picks, orders = set(), []
    for sampler_seed in (0, 3):
        sampler = optuna.samplers.GridSampler({"lambda_z": [1e-4, 0.03, 1.0]}, seed=sampler_seed)
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=optuna.pruners.NopPruner())
        study.optimize(Objective(spec), n_trials=3)
        orders.append([t.params["lambda_z"] for t in study.trials])
        picks.add(summarize(study, spec).params["lambda_z"])
    assert sorted(orders[0]) == sorted(orders[1]) == [1e-4, 0.03, 1.0] and orders[0] != orders[1]
    assert len(picks) == 1
