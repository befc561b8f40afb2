"""Methods: declarative recipes of weighted loss terms, registered as plugins.

A method is a short file in ``methods/`` (or any folder listed in
``plugin_dirs``, or a package exposing the ``snnkd.methods`` entry-point group)
that calls :func:`register` with a :class:`Method`. The trainer never names a
method: it asks the method for its terms, the knowledge they read and an
optional model transform.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch
import torch.nn as nn

from snnkd.definitions import code_of, source_of
from snnkd.errors import ConfigError
from snnkd.registry import Registry
from snnkd.terms import TERMS
from snnkd.trace import Knowledge

TeacherRole = Literal["none", "teacher", "assistant", "fp-twin"]
BUILTIN_PACKAGE = "snnkd.methods_builtin"  # the top-level ``methods/`` folder, mapped by setup.py
ENTRY_POINT_GROUP = "snnkd.methods"


def builtin_dir() -> Path:
    """The folder of the built-in method files, wherever snnkd is installed (wheel or editable).

    Found through :mod:`importlib.resources`; a source tree used without
    installing (``PYTHONPATH=src``) falls back to its top-level ``methods/``.
    """
    from importlib import resources

    try:
        folder = resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "methods"
    return Path(str(folder))


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


METHODS: Registry[Method] = Registry("method")
_loaded: set[str] = set()


def register(method: Method) -> Method:
    """Register a method (called at import time by a plugin file).

    Registering a name again with the same definition (one plugin file loaded as an
    installed package and from its folder) is a no-op; another definition (a plugin
    naming its method ``kd``) is a one-line ConfigError naming both sources: a plugin
    never silently replaces a built-in or another plugin.
    """
    if method.name in METHODS:
        old = METHODS.get(method.name)
        if old is not method and _definition(old) != _definition(method):
            raise ConfigError(
                f"method '{method.name}' is defined twice: in {source_of(old.recipe)} "
                f"and in {source_of(method.recipe)}"
            )
        return old
    return METHODS.register(method.name, method)


def _definition(m: Method) -> tuple:
    return m.paper, m.teacher, m.modifier, m.readout, dict(m.hparams), code_of(m.recipe), code_of(m.transform)


def _load_file(path: Path) -> None:
    key = str(path.resolve())
    if key in _loaded:
        return
    module_name = f"snnkd_plugin_{path.stem.replace('-', '_')}_{abs(hash(key)) % 10**8}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"plugin_dirs: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        sys.modules.pop(module_name, None)
        raise
    except BaseException as err:  # any error of a plugin's own code, sys.exit() too: one line naming the file
        sys.modules.pop(module_name, None)
        raise ConfigError(f"plugin {path}: {_one_line(err)}") from None
    _loaded.add(key)


def _one_line(err: BaseException) -> str:
    """``ErrorType: first line of the message`` (a ConfigError's message alone)."""
    if isinstance(err, SystemExit):
        return f"it calls sys.exit({err.code!r}) while being imported"
    text = (str(err).strip().splitlines() or [""])[0]
    if isinstance(err, ConfigError):
        return text
    if isinstance(err, SyntaxError) and err.lineno:
        text = f"{err.msg} (line {err.lineno})"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def discover(plugin_dirs: Iterable[str | Path] = ()) -> Registry[Method]:
    """Load the built-in methods, every ``*.py`` in ``plugin_dirs`` and the entry points."""
    builtin = builtin_dir()
    dirs = [builtin, *map(Path, plugin_dirs)]
    for d in dirs:
        if not d.is_dir():
            if d != builtin:
                raise ConfigError(f"plugin_dirs: not a folder: {d}")
            continue
        for path in sorted(d.glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if f"ep:{ep.value}" not in _loaded:
            try:
                obj = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # sys.exit() at import included
                raise ConfigError(f"plugin {ep.value} (entry point {ep.name}): {_one_line(err)}") from None
            if isinstance(obj, Method):
                register(obj)
            _loaded.add(f"ep:{ep.value}")
    return METHODS


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


def get_method(spec: str, plugin_dirs: Iterable[str | Path] = ()) -> Method:
    """Resolve a method name or a composition such as ``"kd-mse + logit-reg"``."""
    registry = discover(plugin_dirs)
    parts = [p.strip() for p in spec.split("+")]
    if not all(parts):
        raise ConfigError(f"method: cannot parse '{spec}'")
    methods = [registry.get(p, field="method") for p in parts]
    return methods[0] if len(methods) == 1 else compose(methods)


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
