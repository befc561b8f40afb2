"""The multi-fidelity pruners (:mod:`snnkd.tune.pruners`): epochs are the resource, and a study's trials
and pruning decisions are the same on a re-run (in batches too, for ``halving``, ``hyperband`` and
``median``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import optuna
import pytest

from snnkd.tune import pruners
from snnkd.tune.objective import Objective
from snnkd.tune.spec import TuneSpec
from snnkd.tune.worker import counts, make_pruner, make_sampler, run_batch

EPOCHS = 9


def _trainer(slow_above: float | None):
    """Validation accuracy a known function of lambda_z and the epoch; trials above a lambda_z are slow."""

    def train(spec, hparams, on_epoch):
        lam = float(hparams["lambda_z"])
        score = 0.95 - 0.1 * abs(math.log10(lam) + 2.0)  # best at lambda_z = 0.01
        for epoch in range(1, EPOCHS + 1):
            if slow_above is not None and (lam > slow_above) == (epoch % 2 == 0):
                time.sleep(0.03)
            on_epoch(epoch, score * epoch / EPOCHS)  # may prune
        return {"val_accuracy": score, "val_spikes_per_sample": 1.0}

    return train


def _history(tmp: Path, pruner: str, batch: int, slow_above: float | None, trials: int = 12) -> list[tuple]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp / f"{pruner}-{batch}-{slow_above}.journal"
    spec = TuneSpec(
        base={"dataset": "digits", "method": "logit-reg", "seed": 0, "train": {"epochs": EPOCHS}},
        trials=trials, storage=f"journal:///{path}", study="pruners", mlflow=False, batch=batch,
        pruner=pruner,
    )  # fmt: skip
    study = optuna.create_study(
        study_name="pruners",
        storage=JournalStorage(JournalFileBackend(str(path))),
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        direction="maximize",
    )
    objective = Objective(spec, trainer=_trainer(slow_above))
    while counts(study).finished < spec.trials:
        run_batch(study, objective, min(spec.batch, spec.trials - counts(study).finished))
    return [(t.number, t.state.name, t.params, t.last_step) for t in study.get_trials()]


@pytest.mark.parametrize("pruner", ["halving", "hyperband", "median"])
def test_batched_pruning_does_not_depend_on_which_trial_gets_further_first(tmp_path, pruner):
    first, second = _history(tmp_path, pruner, 3, 0.01), _history(tmp_path, pruner, 3, 1.0)
    third = _history(tmp_path, pruner, 3, 1e-4)
    assert first == second == third
    assert any(state == "PRUNED" for _, state, _, _ in first)


def test_halving_prunes_only_at_its_rungs_in_epochs(tmp_path):
    history = _history(tmp_path, "halving", 1, None)
    rungs = {EPOCHS // 4 * 3**k for k in range(3)}  # min_resource = epochs // 4 = 2: rungs 2, 6, 18
    pruned_at = {step for _, state, _, step in history if state == "PRUNED"}
    assert pruned_at and pruned_at <= rungs


def test_hyperband_brackets_are_optunas(tmp_path):
    """Same bracket count, shares and trial-to-bracket draw as Optuna's HyperbandPruner (R = 9, η = 3:
    floor(log_3 9) + 1 = 3 brackets b, shares ceil(3 * 3^s / (s + 1)) with s = 2 - b: 9, 5, 3)."""
    ours = pruners.make("hyperband", EPOCHS, 12)
    assert isinstance(ours, pruners.FinishedHyperband)
    assert ours.brackets == 3 and ours.budgets == [9, 5, 3]
    study = optuna.create_study(study_name="brackets", direction="maximize")
    theirs = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3)
    theirs._try_initialization(study)  # a test may read a library's internals; the code never does
    frozen = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING)
    drawn = []
    for number in range(300):
        frozen.number = number
        drawn.append(ours.bracket(study, number))
        assert drawn[-1] == theirs._get_bracket_id(study, frozen)
    assert set(drawn) == {0, 1, 2}


def test_async_hyperband_uses_epochs_and_is_deterministic_serially(tmp_path):
    pruner = pruners.make("hyperband-async", EPOCHS, 12)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    first = _history(tmp_path, "hyperband-async", 1, None)
    second = _history(tmp_path, "hyperband-async", 1, 0.5)
    assert first == second
    # Hyperband's brackets start successive halving at 1, 3 and 9 epochs (reduction factor 3)
    pruned_at = {step for _, state, _, step in first if state == "PRUNED"}
    assert pruned_at and pruned_at <= {1, 3, 9}


def test_finished_view_hides_running_trials_but_the_judged_one(tmp_path):
    study = optuna.create_study(direction="maximize")
    done = study.ask()
    study.tell(done, 0.5)
    running, judged = study.ask(), study.ask()
    view = pruners._FinishedView(study, judged.number)
    assert [t.number for t in view.get_trials(deepcopy=False)] == [done.number, judged.number]
    assert running.number not in [t.number for t in view.get_trials()]
    assert view.direction == study.direction
