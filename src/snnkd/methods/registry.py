"""The method registry: a plugin file registers its :class:`~snnkd.methods.base.Method` by name."""

from __future__ import annotations

from snnkd.core.definitions import code_of, source_of
from snnkd.core.registry import Registry
from snnkd.errors import ConfigError
from snnkd.methods.base import Method

METHODS: Registry[Method] = Registry("method")


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
