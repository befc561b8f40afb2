"""Plugin discovery: the built-in method files, every ``*.py`` of ``plugin_dirs`` and entry points.

A method is a short file in ``methods/`` (or any folder listed in
``plugin_dirs``, or a package exposing the ``snnkd.methods`` entry-point group)
that calls :func:`~snnkd.methods.registry.register` with a
:class:`~snnkd.methods.base.Method`; :func:`get_method` resolves a name or a
composition once they are loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from snnkd.core.registry import Registry
from snnkd.errors import ConfigError
from snnkd.methods.base import Method, compose
from snnkd.methods.registry import METHODS, register

BUILTIN_PACKAGE = "snnkd.methods_builtin"  # the top-level ``methods/`` folder, mapped by setup.py
ENTRY_POINT_GROUP = "snnkd.methods"
_loaded: set[str] = set()


def builtin_dir() -> Path:
    """The folder of the built-in method files, wherever snnkd is installed (wheel or editable).

    Found through :mod:`importlib.resources`; a source tree used without
    installing (``PYTHONPATH=src``) falls back to its top-level ``methods/``.
    """
    from importlib import resources

    try:
        folder = resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[3] / "methods"
    return Path(str(folder))


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


def get_method(spec: str, plugin_dirs: Iterable[str | Path] = ()) -> Method:
    """Resolve a method name or a composition such as ``"kd-mse + logit-reg"``."""
    registry = discover(plugin_dirs)
    parts = [p.strip() for p in spec.split("+")]
    if not all(parts):
        raise ConfigError(f"method: cannot parse '{spec}'")
    methods = [registry.get(p, field="method") for p in parts]
    return methods[0] if len(methods) == 1 else compose(methods)
