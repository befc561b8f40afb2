"""Sweeps: a suite's ``sweeps`` section expanded into method variants, the points of a trade-off curve.

A suite may declare, for a method of its ``methods`` that has an activity or distillation weight
(``act-reg``'s λ_a, ``logit-reg``'s λ_z, the kd family's α or τ), one hyper-parameter to sweep::

    sweeps:
      logit-reg: {lambda_z: {grid: log, points: 5}}          # across the plugin's declared range
      act-reg:   {lambda_a: {grid: log, points: 3, low: 0.001, high: 0.1}}
      kd:        {alpha: {values: [0.1, 0.5, 0.9]}}          # an explicit list

Each point is a *variant*: a run of the method with its suite settings (``methods.<m>``: the
hyper-parameters and ``config``) and the swept hyper-parameter fixed at the point, never tuned.
A variant has a plain, command-line-safe name, ``<method>.<hparam>-<value>`` (for example
``logit-reg.lambda_z-0.001``), which names its DVC stages, its run folder
``results/<suite>/runs/<dataset>/<variant>/`` and its MLflow tag ``snnkd.variant``.

Grid points: ``grid: log`` takes ``points`` values ``low · (high/low)^(i/(points-1))``
(``numpy.geomspace``), ``grid: linear`` takes ``low + i (high - low)/(points-1)``
(``numpy.linspace``), ``i = 0 … points-1``, with ``[low, high]`` the plugin's
:class:`~snnkd.methods.HParam` range unless given; each interior point is rounded to three
significant digits so that its name is its exact value. Variants are listed in increasing value:
the order in which :func:`snnkd.results.tradeoff.choose_point` reads a curve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snnkd.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
DIGITS = 3  # significant digits of a grid point


class SweepAxis(BaseModel):
    """The points of one swept hyper-parameter: a grid across a range, or an explicit list."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    grid: Literal["log", "linear"] | None = Field(None, description="spacing of a grid of `points` values")
    points: int | None = Field(None, ge=2, le=50, description="grid points, the ends included")
    low: float | None = Field(None, description="grid start (default: the plugin's declared low)")
    high: float | None = Field(None, description="grid end (default: the plugin's declared high)")
    values: list[float] | None = Field(None, min_length=1, description="explicit points instead of a grid")

    @model_validator(mode="after")
    def _one_kind(self) -> SweepAxis:
        if self.values is not None:
            if any(v is not None for v in (self.grid, self.points, self.low, self.high)):
                raise ValueError("give either `values` or a `grid` with `points`, not both")
        elif self.grid is None or self.points is None:
            raise ValueError("expected `values: [...]` or `grid: log|linear` with `points: N`")
        return self


@dataclass(frozen=True)
class Variant:
    """One sweep point: the variant's name, its method, the swept hyper-parameter and its value."""

    name: str
    method: str
    hparam: str
    value: float | int

    @property
    def family(self) -> str:
        """The curve it is a point of, as tables and figures label it: ``logit-reg (lambda_z sweep)``."""
        return family_label(self.method, self.hparam)


def family_label(method: str, hparam: str) -> str:
    return f"{method} ({hparam} sweep)"


def value_text(value: float | int) -> str:
    """A value as it appears in a variant name: Python's shortest round-trip repr, no ``+``."""
    return str(value) if isinstance(value, int) else repr(float(value)).replace("e+", "e")


def variant_name(method: str, hparam: str, value: float | int) -> str:
    return f"{method}.{hparam}-{value_text(value)}"


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def grid_values(axis: SweepAxis, low: float | None, high: float | None, where: str) -> list[float]:
    """The axis' points: its ``values``, or its grid over ``[low, high]`` (the axis' own ends first)."""
    import numpy as np

    if axis.values is not None:
        return [float(v) for v in axis.values]
    lo = axis.low if axis.low is not None else low
    hi = axis.high if axis.high is not None else high
    if lo is None or hi is None:
        raise ConfigError(f"{where}: the hyper-parameter declares no range; give low and high, or values")
    if not lo < hi:
        raise ConfigError(f"{where}: low {lo} must be below high {hi}")
    if axis.grid == "log" and lo <= 0:
        raise ConfigError(f"{where}: a log grid needs low > 0 (got {lo}); use grid: linear or values")
    raw = np.geomspace(lo, hi, axis.points) if axis.grid == "log" else np.linspace(lo, hi, axis.points)
    inner = [_round(float(v)) for v in raw[1:-1]]
    return [float(lo), *inner, float(hi)]


def expand(
    sweeps: Mapping[str, Mapping[str, SweepAxis]],
    methods: Iterable[str],
    plugin_dirs: Iterable[str] = (),
    source: str = "params.yaml",
) -> dict[str, Variant]:
    """Every sweep point of ``sweeps`` as a :class:`Variant`, by name: sweeps in declared order, each
    in increasing value. Errors name the key (``sweeps.<method>.<hparam>``)."""
    from snnkd.methods import get_method

    known = list(methods)
    out: dict[str, Variant] = {}
    for method, axes in sweeps.items():
        where = f"{source}: sweeps.{method}"
        if method not in known:
            raise ConfigError(f"{where}: not one of the suite's methods; valid choices: {', '.join(known)}")
        if not NAME.match(method):
            raise ConfigError(f"{where}: a composed method cannot be swept (variant names must be plain)")
        if len(axes) != 1:
            raise ConfigError(f"{where}: sweep exactly one hyper-parameter per method (one curve)")
        (hparam, axis), declared = next(iter(axes.items())), get_method(method, plugin_dirs).hparams
        if hparam not in declared:
            valid = ", ".join(declared) or "none"
            raise ConfigError(
                f"{where}.{hparam}: not a hyper-parameter of '{method}'; valid choices: {valid}"
            )
        hp = declared[hparam]
        whole = isinstance(hp.default, int) and not isinstance(hp.default, bool)
        points = []
        for value in sorted(grid_values(axis, hp.low, hp.high, f"{where}.{hparam}")):
            value = int(round(value)) if whole else value
            try:
                hp.check(hparam, value)
            except ConfigError as err:
                raise ConfigError(f"{where}.{err}") from None
            points.append(value)
        for value in points:
            name = variant_name(method, hparam, value)
            if name in out or name in known:
                raise ConfigError(f"{where}.{hparam}: the point {value_text(value)} is listed twice")
            out[name] = Variant(name, method, hparam, value)
    return out
