"""What a method is: hyper-parameters, weighted loss terms, the recipe, a composition, its loss.

A :class:`Method` is a declarative recipe of weighted terms (:func:`term`) over the loss terms of
:mod:`snnkd.methods.terms`; :func:`compose` adds modifiers to a base recipe (``kd + act-reg``) and
:class:`RecipeLoss` is the loss a recipe's terms make. The trainer never names a method: it asks
the method for its terms, the knowledge they read and an optional model transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch
import torch.nn as nn

from snnkd.errors import ConfigError
from snnkd.methods.terms import TERMS
from snnkd.methods.trace import Knowledge

TeacherRole = Literal["none", "teacher", "assistant", "fp-twin"]


@dataclass(frozen=True)
class HParam:
    """A hyper-parameter: its default, valid range and Optuna search space."""

    default: float | int | str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def check(self, name: str, value: Any) -> Any:
        """``value`` checked against the range or choices, in the declared type (see :meth:`canonical`)."""
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(
                    f"hparams.{name}: {value!r} is not valid; valid choices: "
                    f"{', '.join(map(str, self.choices))}"
                )
            return self.choices[self.choices.index(value)]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"hparams.{name}: expected a number, got {value!r}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ConfigError(f"hparams.{name}: {value} is outside [{self.low}, {self.high}]")
        return self.canonical(name, value)

    def canonical(self, name: str, value: int | float) -> int | float:
        """A number in the type of the default: ``4`` is ``4.0`` for a float hyper-parameter (``--hparam
        tau=4`` and ``tau: 4.0`` are one run), ``2.0`` is ``2`` for an integer one."""
        if isinstance(self.default, float):
            return float(value)
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            if value != int(value):
                raise ConfigError(f"hparams.{name}: expected an integer, got {value!r}")
            return int(value)
        return value

    def suggest(self, trial: Any, name: str) -> Any:
        """Sample this hyper-parameter in an Optuna trial."""
        if self.choices is not None:
            return trial.suggest_categorical(name, list(self.choices))
        if isinstance(self.default, int) and not isinstance(self.default, bool) and not self.log:
            return trial.suggest_int(name, int(self.low), int(self.high))
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Term:
    """One weighted loss term of a recipe: ``weight * TERMS[name](s, k, y, **params)``."""

    name: str
    weight: float
    params: Mapping[str, Any] = field(default_factory=dict)


def term(name: str, weight: float = 1.0, **params: Any) -> Term:
    return Term(name, float(weight), params)


Recipe = Callable[[Mapping[str, Any]], list[Term]]


@dataclass(frozen=True)
class Method:
    """A registered method.

    ``recipe(hp)`` returns the weighted terms for resolved hyper-parameters.
    A ``modifier`` (activation or logits regularisation) adds its terms to a
    base recipe; used alone its base is ``ce``. ``teacher`` is the role of the
    network it learns from. ``transform(model, cfg)`` may rewrite the student
    (quantization) before training.
    """

    name: str
    paper: str
    recipe: Recipe
    hparams: Mapping[str, HParam] = field(default_factory=dict)
    teacher: TeacherRole = "none"
    modifier: bool = False
    readout: Literal["mean", "spiking"] | None = None  # required readout, if any
    transform: Callable[[nn.Module, Any], nn.Module] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        roles = get_args(TeacherRole)
        if self.teacher not in roles:
            raise ConfigError(
                f"method {self.name}: teacher '{self.teacher}' is not a teacher role; "
                f"valid choices: {', '.join(roles)}"
            )
        if self.readout not in (None, "mean", "spiking"):
            raise ConfigError(
                f"method {self.name}: readout '{self.readout}' is not valid; valid choices: mean, spiking"
            )

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked against its range."""
        unknown = sorted(set(given) - set(self.hparams))
        if unknown:
            valid = ", ".join(self.hparams) or "none"
            raise ConfigError(
                f"hparams.{unknown[0]}: not a hyper-parameter of '{self.name}'; valid choices: {valid}"
            )
        return {n: hp.check(n, given.get(n, hp.default)) for n, hp in self.hparams.items()}

    def canonical(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The hyper-parameters ``given`` (no defaults added, same order), each checked and in its
        declared type: what a run's identity hashes, so equal values give one identity."""
        resolved = self.resolve(given)
        return {n: resolved[n] for n in given}

    def terms(self, hp: Mapping[str, Any]) -> list[Term]:
        terms = self.recipe(hp)
        if self.modifier:
            terms = [term("ce")] + terms
        for t in terms:
            TERMS.get(t.name, field=f"method {self.name}")
            if not math.isfinite(t.weight) or t.weight < 0:
                raise ConfigError(f"hparams: term '{t.name}' of '{self.name}' has weight {t.weight} < 0")
        return terms

    def needs(self, hp: Mapping[str, Any]) -> tuple[set[str], set[str]]:
        """Knowledge fields the student and the teacher must provide."""
        student: set[str] = set()
        teacher: set[str] = set()
        for t in self.terms(hp):
            if t.weight == 0:
                continue
            spec = TERMS.get(t.name)
            student |= spec.student
            teacher |= spec.teacher
        return student, teacher


def compose(names: list[Method]) -> Method:
    """``kd + act-reg``: the base recipe's terms plus each modifier's own terms."""
    bases = [m for m in names if not m.modifier]
    if len(bases) > 1:
        raise ConfigError(
            f"method: at most one base recipe may be composed; got {', '.join(m.name for m in bases)}"
        )
    base = bases[0] if bases else None
    modifiers = [m for m in names if m.modifier]
    hparams: dict[str, HParam] = {}
    for m in names:
        for n, hp in m.hparams.items():
            if n in hparams and hparams[n] != hp:
                raise ConfigError(f"method: hyper-parameter '{n}' is defined twice differently")
            hparams[n] = hp

    def recipe(hp: Mapping[str, Any]) -> list[Term]:
        terms = base.terms(hp) if base is not None else [term("ce")]
        for m in modifiers:
            terms += m.recipe(hp)
        return terms

    transforms = [m.transform for m in names if m.transform is not None]
    return Method(
        name=" + ".join(m.name for m in names),
        paper="; ".join(dict.fromkeys(m.paper for m in names)),
        recipe=recipe,
        hparams=hparams,
        teacher=base.teacher if base is not None else "none",
        readout=base.readout if base is not None else None,
        transform=transforms[0] if transforms else None,
        doc="\n\n".join(m.doc for m in names),
    )


class RecipeLoss(nn.Module):
    """``loss = sum_i weight_i * term_i(student, teacher, y)`` for a method's terms.

    Holds the learned parts of terms (adapters), built by :meth:`setup` from a
    first batch; ``forward`` returns the total and each term's value.
    """

    def __init__(self, terms: list[Term]) -> None:
        super().__init__()
        self.terms = [t for t in terms if t.weight != 0]
        self.parts = nn.ModuleDict()

    def setup(self, student: Knowledge, teacher: Knowledge | None) -> None:
        for t in self.terms:
            spec = TERMS.get(t.name)
            if spec.module is not None and t.name not in self.parts:
                self.parts[t.name] = spec.module(student, teacher)

    def forward(
        self, student: Knowledge, teacher: Knowledge | None, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        values: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for t in self.terms:
            spec = TERMS.get(t.name)
            extra = {"module": self.parts[t.name]} if spec.module is not None else {}
            v = spec.fn(student, teacher, y, **t.params, **extra)
            values[t.name] = v.detach()
            weighted = v if t.weight == 1.0 else t.weight * v
            total = weighted if total is None else total + weighted
        if total is None:
            total = torch.zeros((), device=y.device)
        return total, values
