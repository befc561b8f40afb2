"""Early stopping on validation accuracy with best-weight restore.

A run trains for at most ``train.epochs`` epochs. With ``train.patience = p`` it
stops after ``p`` consecutive epochs whose validation accuracy does not exceed
the best so far by more than ``train.min_delta``, and the network is put back to
the weights of its best validation epoch (ties keep the earlier epoch). Only the
validation split chooses; the test split is never looked at.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn


@dataclass
class EarlyStopping:
    """Tracks the best validation accuracy, its epoch and weights, and the epochs since."""

    patience: int | None
    min_delta: float = 0.0
    best: float = float("-inf")
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict[str, Any] | None = field(default=None, repr=False)

    def update(self, epoch: int, val_accuracy: float, model: nn.Module) -> bool:
        """Record one epoch; returns True when training should stop now."""
        if val_accuracy > self.best + self.min_delta or self.best_epoch == 0:
            self.best, self.best_epoch, self.bad_epochs = val_accuracy, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        self.stopped = self.patience is not None and self.bad_epochs >= self.patience
        return self.stopped

    def restore(self, model: nn.Module) -> None:
        """Load the best-validation weights back into ``model``."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state["stopped"])
        self.best_state = state["best_state"]


def last_quarter_gain(val_accuracy: list[float]) -> float:
    """What the last quarter of a validation curve adds: ``max(last quarter) - max(the rest)``.

    A curve ends on a plateau when this is small (the suites' criterion: under 1 point).
    Curves shorter than 4 epochs have no quarter to judge: 0.
    """
    n = len(val_accuracy)
    if n < 4:
        return 0.0
    cut = n - max(1, n // 4)
    return max(val_accuracy[cut:]) - max(val_accuracy[:cut])
