"""Batched trials (``TuneSpec.batch``): trained at once in forked processes, yet the study is the same
whichever trial of a batch finishes first (what a `dvc repro` tune stage needs to reproduce exactly)."""

from __future__ import annotations

import time
from pathlib import Path

from snnkd.tune.objective import Objective
from snnkd.tune.spec import TuneSpec
from snnkd.tune.worker import counts, make_pruner, make_sampler, run_batch


def _fake_trainer(slow_parity: int):
    """Validation accuracy is a known function of lambda_z; trials of one parity take longer."""

    def train(spec, hparams, on_epoch):
        lam = float(hparams["lambda_z"])
        score = 0.9 - abs(lam - 0.01) * 5.0
        for epoch in range(1, 9):
            if hparams["_number"] % 2 == slow_parity:
                time.sleep(0.05)
            on_epoch(epoch, score * epoch / 8)  # may prune
        return {"val_accuracy": score, "val_spikes_per_sample": 1.0}

    return train


class _NumberedObjective(Objective):
    """Hands the trial number to the fake trainer (to make one parity of trials slow)."""

    def __call__(self, trial):
        trainer = self.trainer
        self.trainer = lambda spec, hp, on_epoch: trainer(spec, {**hp, "_number": trial.number}, on_epoch)
        try:
            return super().__call__(trial)
        finally:
            self.trainer = trainer


def _history(tmp: Path, slow_parity: int) -> list[tuple]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp / f"study-{slow_parity}.journal"
    spec = TuneSpec(
        base={"dataset": "digits", "method": "logit-reg", "seed": 0, "train": {"epochs": 8}},
        trials=8, storage=f"journal:///{path}", study="batch", mlflow=False, batch=2,
    )  # fmt: skip
    study = optuna.create_study(
        study_name="batch",
        storage=JournalStorage(JournalFileBackend(str(path))),
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        direction="maximize",
    )
    objective = _NumberedObjective(spec, trainer=_fake_trainer(slow_parity))
    while counts(study).finished < spec.trials:
        run_batch(study, objective, min(spec.batch, spec.trials - counts(study).finished))
    return [(t.number, t.state.name, t.params, t.value) for t in study.get_trials()]


def test_batched_study_does_not_depend_on_which_trial_finishes_first(tmp_path):
    evens_slow, odds_slow = _history(tmp_path, 0), _history(tmp_path, 1)
    assert len(evens_slow) == 8
    assert evens_slow == odds_slow
    assert len({tuple(sorted(p.items())) for _, _, p, _ in evens_slow}) == 8  # no point proposed twice
    assert any(state == "PRUNED" for _, state, _, _ in evens_slow) or all(
        state == "COMPLETE" for _, state, _, _ in evens_slow
    )
