"""``params.yaml``: the suites the pipeline builds, each with its settings, and the shared plan.

``params.yaml`` holds two keys::

    suites:            # the suites `dvc repro` builds, each a copy of benchmarks/<name>.yaml
      default: {suite: default, datasets: [...], ...}
      evidence: {...}
    plan: {...}        # generated from them (snnkd.pipeline.plan): the stage records of dvc.yaml

A suite's stages read only its own keys (``suites.<name>.budgets.<dataset>``, ...) and publish
under ``results/<name>/`` (:func:`snnkd.pipeline.suite.suite_dir`), so several suites coexist in one checkout
and a change to one never makes another's stages stale. A file holding a single suite (a
``benchmarks/<name>.yaml``, top-level ``suite:``) is read as that suite alone, so the leaderboard and
the checks also work on one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snnkd.errors import ConfigError
from snnkd.pipeline.suite import Suite, check, parse, read

KEYS = ("suites", "plan")  # the top-level keys of params.yaml


def settings(data: Any, source: str) -> dict[str, Any]:
    """The ``suites`` mapping of ``params.yaml``'s data (name -> settings), its shape checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a mapping")
    if "suites" not in data and "suite" in data:  # one suite's file (benchmarks/<name>.yaml)
        return {str(data["suite"]): {k: v for k, v in data.items() if k != "plan"}}
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"{source}: {key}: unknown field; valid choices: {', '.join(KEYS)}")
    found = data.get("suites")
    if not isinstance(found, dict) or not found:
        raise ConfigError(
            f"{source}: suites: expected a mapping of suite names to settings; run `snnkd suite use NAME`"
        )
    return found


def parse_all(data: Any, source: str = "params.yaml") -> dict[str, Suite]:
    """Every suite of ``params.yaml``'s data, each parsed (schema and names); errors name the key."""
    from snnkd.names import check_name

    out: dict[str, Suite] = {}
    for name, body in settings(data, source).items():
        check_name(name, f"{source}: suites.{name}")
        where = f"{source}: suites.{name}" if "suites" in data else source
        suite = parse(body, where)
        if suite.suite != name:
            raise ConfigError(f"{where}: suite: '{suite.suite}' must be the suite's key '{name}'")
        out[name] = suite
    return out


def load_all(path: str | Path = "params.yaml", *, full: bool = True) -> dict[str, Suite]:
    """Every suite of ``path``, parsed and (when ``full``) checked against the registries."""
    data = read(path)
    suites = parse_all(data, str(path))
    if full:
        for name, suite in suites.items():
            check(suite, f"{path}: suites.{name}" if "suites" in data else str(path))
    return suites


def load(path: str | Path = "params.yaml", name: str | None = None, *, full: bool = True) -> Suite:
    """Suite ``name`` of ``path`` (no name: the file's only suite); an unknown name lists the suites."""
    data = read(path)
    found = settings(data, str(path))
    if name is None and len(found) == 1:
        name = next(iter(found))
    if name not in found:
        what = f"suite '{name}' is not in {path}" if name else f"{path} holds several suites; name one"
        raise ConfigError(f"--suite: {what}; valid choices: {', '.join(map(str, found))}")
    if "suites" in data:
        suite = parse_all({"suites": {name: found[name]}}, str(path))[name]
        source = f"{path}: suites.{name}"
    else:
        suite, source = parse(found[name], str(path)), str(path)
    return check(suite, source) if full else suite


def names(path: str | Path = "params.yaml") -> list[str]:
    """The suites ``path`` holds, in their order there."""
    return [str(n) for n in settings(read(path), str(path))]
