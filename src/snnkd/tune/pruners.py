"""The pruners of single-objective studies, with epochs as the resource (``trial.report(acc, epoch)``).

- ``median``: Optuna's ``MedianPruner``; after a warm-up of ``epochs // 4``
  epochs a trial stops when its validation accuracy is below the median of the *completed* trials'
  at the same epoch (the first ``min(5, trials // 4)`` trials are never pruned).
- ``hyperband`` (the default): Hyperband (Li et al., JMLR 2018) over 1 .. ``epochs`` epochs,
  reduction factor η = 3: ``s_max + 1 = floor(log_η(epochs)) + 1`` brackets; bracket ``b`` runs
  successive halving from ``η^b`` epochs and receives ``ceil((s_max + 1) η^s / (s + 1))`` shares
  of the trials, with ``s = s_max - b`` (the paper's bracket index); a trial's bracket is drawn
  from CRC-32 of (study name, trial number), as in Optuna's ``HyperbandPruner``
  (:class:`FinishedHyperband`). Unlike Optuna's, each bracket's ``SuccessiveHalvingPruner`` sees
  only the bracket's *finished* trials, so a batched study (``TuneSpec.batch``) is the same
  whichever trial of a batch reaches a rung first.
- ``hyperband-async``: Optuna's own ``HyperbandPruner``, whose rungs also compare a trial with the
  running trials of its bracket: its decisions in batches depend on timing (kept to measure it).
- ``halving``: Optuna's ``SuccessiveHalvingPruner`` (asynchronous successive halving, Li et al.,
  MLSys 2020), rungs at ``r * 3^k`` epochs with ``r = epochs // 4`` (the median rule's warm-up): at
  each rung a trial continues only while its accuracy is in the top third of the rung's values. It
  sees finished trials only (:class:`FinishedTrialsOnly`), like the median rule, so a batched study
  is the same whichever trial finishes first.
"""

from __future__ import annotations

import binascii
import math
from typing import Any

import optuna

from snnkd.tune.spec import PRUNERS

__all__ = ["PRUNERS", "FinishedHyperband", "FinishedTrialsOnly", "make"]

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


def _in_bracket(study: Any, number: int, budgets: list[int]) -> int:
    """The Hyperband bracket of trial ``number``: CRC-32 of ``"<study name>_<number>"`` modulo the
    brackets' total share, walked through the shares ``budgets`` (bracket 0 first)."""
    n = binascii.crc32(f"{study.study_name}_{number}".encode()) % sum(budgets)
    for bracket, share in enumerate(budgets):
        n -= share
        if n < 0:
            return bracket
    raise AssertionError("unreachable: n < sum(budgets)")


class _BracketView(_FinishedView):
    """The finished trials of one Hyperband bracket, and the judged trial."""

    def __init__(self, study: Any, number: int, bracket: int, budgets: list[int]) -> None:
        super().__init__(study, number)
        self._bracket, self._budgets = bracket, budgets

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = super().get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if _in_bracket(self._study, t.number, self._budgets) == self._bracket]


class FinishedHyperband(optuna.pruners.BasePruner):
    """Hyperband over ``1 .. max_resource`` epochs whose brackets judge by finished trials only.

    Bracket ``b`` (of ``s_max + 1 = floor(log_η(R)) + 1``) is Optuna's ``SuccessiveHalvingPruner``
    with ``min_early_stopping_rate = b`` (first rung at ``η^b`` epochs), shown the bracket's finished
    trials and the judged one; its share of trials is ``ceil((s_max + 1) η^s / (s + 1))``, ``s = s_max - b``
    (Li et al., JMLR 2018, Algorithm 1, with ASHA's rungs as in Optuna).
    """

    def __init__(self, max_resource: int, reduction_factor: int = REDUCTION_FACTOR) -> None:
        self.brackets = (
            math.floor(math.log(max(max_resource, 1), reduction_factor)) + 1
        )  # as Optuna computes it
        top = self.brackets - 1
        self.budgets = [  # bracket b is the paper's s = s_max - b
            math.ceil(self.brackets * reduction_factor ** (top - b) / (top - b + 1))
            for b in range(self.brackets)
        ]
        self.pruners = [
            optuna.pruners.SuccessiveHalvingPruner(
                min_resource=1, reduction_factor=reduction_factor, min_early_stopping_rate=s
            )
            for s in range(self.brackets)
        ]

    def bracket(self, study: Any, number: int) -> int:
        return _in_bracket(study, number, self.budgets)

    def prune(self, study: Any, trial: Any) -> bool:
        bracket = self.bracket(study, trial.number)
        view = _BracketView(study, trial.number, bracket, self.budgets)
        return self.pruners[bracket].prune(view, trial)


def make(name: str, epochs: int, trials: int, multi: bool = False) -> optuna.pruners.BasePruner:
    """The pruner ``name`` for a study whose trials train at most ``epochs`` epochs."""
    epochs = max(epochs, 1)
    if multi or name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return FinishedHyperband(max_resource=epochs)
    if name == "hyperband-async":
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
