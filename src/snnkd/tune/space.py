"""The search space of a method, read from its plugin's hyper-parameter declarations.

Nothing about a particular method lives here: a hyper-parameter with a range
(``low``/``high``, log or linear) or a set of ``choices`` is searched;
hyper-parameters fixed on the command line (``--hparam name=value``) are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from snnkd.errors import ConfigError
from snnkd.methods import HParam, get_method


def is_searchable(hp: HParam) -> bool:
    """A hyper-parameter Optuna can sample: a set of choices or a bounded range."""
    if hp.choices is not None:
        return len(hp.choices) > 1
    return hp.low is not None and hp.high is not None and hp.low < hp.high


def search_space(
    method: str, fixed: Mapping[str, Any] | None = None, plugin_dirs: Iterable[str] = ()
) -> dict[str, HParam]:
    """The hyper-parameters of ``method`` to search; an empty space is a ConfigError."""
    m = get_method(method, plugin_dirs)
    fixed = fixed or {}
    space = {n: hp for n, hp in m.hparams.items() if n not in fixed and is_searchable(hp)}
    if not space:
        why = "all of its hyper-parameters are fixed" if m.hparams else "it has no hyper-parameters"
        raise ConfigError(f"method: '{m.name}' has an empty search space ({why}); nothing to tune")
    return space


def defaults(method: str, plugin_dirs: Iterable[str] = ()) -> dict[str, Any]:
    """The plugin's default value of every hyper-parameter of ``method``."""
    return {n: hp.default for n, hp in get_method(method, plugin_dirs).hparams.items()}


def sample(trial: Any, space: Mapping[str, HParam]) -> dict[str, Any]:
    """Draw one point of ``space`` in an Optuna trial (names are the hyper-parameters' names)."""
    return {name: hp.suggest(trial, name) for name, hp in space.items()}
