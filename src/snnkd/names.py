"""Names that reach a command line or a path: datasets, methods, networks and suites.

``dvc.yaml`` interpolates ``${item}`` into a stage's ``cmd`` unquoted, which a shell
runs, and a suite's name becomes part of the path of its MLflow artifacts
(``mlartifacts/snnkd-<suite>``). So each such name must match :data:`NAME`,
``^[A-Za-z0-9_.-]+$`` (no shell metacharacter, no space, no path separator), must
not begin with ``-`` (a command would read it as an option) and must not be dots alone
(``..`` as a folder name climbs out of ``results/<suite>/``). A method may be a
composition of such names joined by ``+`` (``kd-mse+logit-reg``), which a shell leaves alone.
A reference network trained on several seeds is named ``<name>/seed<k>`` (:func:`check_network_name`):
a plain name and one fixed, digits-only folder below it.
"""

from __future__ import annotations

import re

from snnkd.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
ALLOWED = "letters, digits, '_', '.' and '-', not beginning with '-', not dots alone"
SEEDED = re.compile(r"^(?P<name>[^/]+)/seed(?P<seed>0|[1-9][0-9]*)$")  # a network trained on several seeds


def is_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and bool(NAME.match(value))
        and not value.startswith("-")
        and value.strip(".") != ""
    )


def check_name(value: object, key: str, composed: bool = False) -> str:
    """``value`` if it is a valid name (with ``composed``: ``+``-joined valid names), else a one-line
    ConfigError naming ``key``."""
    parts = value.split("+") if composed and isinstance(value, str) else [value]
    if not all(is_name(part) for part in parts):
        joined = " (a composition: such names joined by '+', no spaces)" if composed else ""
        raise ConfigError(f"{key}: {value!r} is not a valid name; use {ALLOWED}{joined}")
    return value  # type: ignore[return-value]


def check_network_name(value: object, key: str) -> str:
    """``value`` if it is a plain name or a seeded network's ``<plain name>/seed<k>``, else a one-line
    ConfigError naming ``key``."""
    seeded = SEEDED.match(value) if isinstance(value, str) else None
    if not is_name(seeded.group("name") if seeded else value):
        raise ConfigError(f"{key}: {value!r} is not a valid network name; use {ALLOWED} (or NAME/seedK)")
    return value  # type: ignore[return-value]
