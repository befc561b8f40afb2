"""The validated description of one study: what to tune, how, and where it is stored.

A :class:`TuneSpec` is built once from the command line (bad input stops here
with a one-line :class:`~snnkd.errors.ConfigError`, exit code 2) and handed as
JSON to every worker process, so that all workers of a study run the same thing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from snnkd.errors import ConfigError

#: objective name -> (metric of the validation split, optimisation direction)
OBJECTIVES: dict[str, tuple[str, Literal["maximize", "minimize"]]] = {
    "accuracy": ("val_accuracy", "maximize"),
    "spikes": ("val_spikes_per_sample", "minimize"),
    "energy": ("val_energy_pj", "minimize"),
}
#: the objective sets a study may have: accuracy alone, or accuracy against an activity measure
ALLOWED: tuple[tuple[str, ...], ...] = (("accuracy",), ("accuracy", "spikes"), ("accuracy", "energy"))


def parse_objectives(text: str) -> tuple[str, ...]:
    """``"accuracy,spikes"`` -> ``("accuracy", "spikes")``, checked against :data:`ALLOWED`."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if names not in ALLOWED:
        valid = " | ".join(",".join(a) for a in ALLOWED)
        raise ConfigError(f"--objectives: '{text}' is not a valid objective; valid choices: {valid}")
    return names


def slug(method: str) -> str:
    """A file-name form of a method string: ``"kd + logit-reg"`` -> ``"kd+logit-reg"``."""
    return method.replace(" ", "")


PRUNERS = ("median", "hyperband", "halving", "hyperband-async", "none")  # snnkd.tune.pruners


class TuneSpec(BaseModel):
    """Everything a worker needs to run trials of one study."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: dict[str, Any] = Field(description="RunConfig data every trial starts from")
    trials: int = Field(ge=1, description="finished (complete or pruned) trials the study must hold")
    objectives: tuple[str, ...] = ("accuracy",)
    storage: str = Field(description="SQLAlchemy URL or journal:///<path>")
    study: str
    workers: int = Field(1, ge=1)
    pruner: Literal["median", "hyperband", "halving", "hyperband-async", "none"] = "hyperband"
    heartbeat_interval: int = Field(10, ge=1, description="seconds between a running trial's heartbeats")
    grace_period: int = Field(60, ge=2, description="seconds without heartbeat before a trial is failed")
    max_retry: int = Field(3, ge=0, description="retries of a trial whose worker died")
    results_dir: str = "results"
    mlflow: bool = True
    sampler_seed: int = Field(0, ge=0)
    threads: int = Field(1, ge=1, description="torch threads per worker")
    batch: int = Field(
        1,
        ge=1,
        description="trials asked together and trained at once in forked processes (one worker only); "
        "the study's history, and so its result, does not depend on which finishes first",
    )
    seeds: tuple[int, ...] = Field(
        (),
        description="seeds whose validation scores a trial averages (two or more); empty: the base "
        "config's seed alone",
    )

    @property
    def method(self) -> str:
        return str(self.base.get("method", "scratch"))

    @property
    def dataset(self) -> str:
        return str(self.base.get("dataset", "digits"))

    @property
    def multi(self) -> bool:
        """True for an accuracy-versus-activity (multi-objective) study."""
        return len(self.objectives) > 1

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o][1] for o in self.objectives]

    @property
    def metrics(self) -> list[str]:
        return [OBJECTIVES[o][0] for o in self.objectives]

    @property
    def run_seeds(self) -> tuple[int, ...]:
        """The seeds a trial trains: ``seeds``, or the base config's seed alone."""
        return self.seeds or (int(self.base.get("seed", 0)),)

    def fingerprint(self) -> str:
        """What must be equal for two commands to share one study (not the budget or workers)."""
        what: dict[str, Any] = {"base": self.base, "objectives": self.objectives}
        if self.seeds:  # only where set: a one-seed study keeps the fingerprint it always had
            what["seeds"] = list(self.seeds)
        blob = json.dumps(what, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_study_name(method: str, dataset: str, objectives: tuple[str, ...]) -> str:
    """``digits-kd-accuracy``, ``digits-kd+logit-reg-accuracy,spikes``."""
    return f"{dataset}-{slug(method)}-{','.join(objectives)}"
