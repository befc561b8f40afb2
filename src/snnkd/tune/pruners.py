"""The pruners of single-objective studies, with epochs as the resource (``trial.report(acc, epoch)``).

- ``median`` (the suites' default): Optuna's ``MedianPruner``; after a warm-up of ``epochs // 4``
  epochs a trial stops when its validation accuracy is below the median of the *completed* trials'
  at the same epoch (the first ``min(5, trials // 4)`` trials are never pruned).
- ``hyperband``: Optuna's ``HyperbandPruner`` (Li et al., JMLR 2018) over 1 .. ``epochs`` epochs,
  reduction factor 3. Its successive-halving rungs compare a trial with every trial of its bracket
  that has reached the rung, *running ones included*, so with batched trials (``TuneSpec.batch``)
  its decisions depend on which trial of a batch gets to a rung first.
- ``halving``: Optuna's ``SuccessiveHalvingPruner`` (asynchronous successive halving, Li et al.,
  MLSys 2020), rungs at ``r * 3^k`` epochs with ``r = epochs // 4`` (the median rule's warm-up): at
  each rung a trial continues only while its accuracy is in the top third of the rung's values. It
  sees finished trials only (:class:`FinishedTrialsOnly`), like the median rule, so a batched study
  is the same whichever trial finishes first.
"""

from __future__ import annotations

from typing import Any

import optuna

from snnkd.tune.spec import PRUNERS

__all__ = ["PRUNERS", "FinishedTrialsOnly", "make"]

REDUCTION_FACTOR = 3


class _FinishedView:
    """A study as seen by a pruner judging trial ``number``: its finished trials and that trial."""

    def __init__(self, study: Any, number: int) -> None:
        self._study = study
        self._number = number

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.state.is_finished() or t.number == self._number]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class FinishedTrialsOnly(optuna.pruners.BasePruner):
    """Runs ``pruner`` on a view of the study without the trials still running (other than the one judged).

    What a pruner then decides depends only on the trials that had finished when the judged trial
    was asked, not on how far its batch-mates have got.
    """

    def __init__(self, pruner: optuna.pruners.BasePruner) -> None:
        self.pruner = pruner

    def prune(self, study: Any, trial: Any) -> bool:
        return self.pruner.prune(_FinishedView(study, trial.number), trial)


def make(name: str, epochs: int, trials: int, multi: bool = False) -> optuna.pruners.BasePruner:
    """The pruner ``name`` for a study whose trials train at most ``epochs`` epochs."""
    epochs = max(epochs, 1)
    if multi or name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=epochs, reduction_factor=REDUCTION_FACTOR
        )
    if name == "halving":
        return FinishedTrialsOnly(
            optuna.pruners.SuccessiveHalvingPruner(
                min_resource=max(1, epochs // 4), reduction_factor=REDUCTION_FACTOR
            )
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=max(1, min(5, trials // 4)), n_warmup_steps=max(1, epochs // 4)
    )
