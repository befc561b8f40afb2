"""Methods: declarative recipes of weighted loss terms, registered as plugins.

A method is a short file in ``methods/`` (or any folder listed in
``plugin_dirs``, or a package exposing the ``snnkd.methods`` entry-point group)
that calls :func:`register` with a :class:`Method`. The trainer never names a
method: it asks the method for its terms, the knowledge they read and an
optional model transform.

The package's modules: :mod:`~snnkd.methods.base` (what a method is),
:mod:`~snnkd.methods.registry` (registered by name), :mod:`~snnkd.methods.discovery`
(plugin files and entry points), :mod:`~snnkd.methods.terms` (the loss terms) and
:mod:`~snnkd.methods.trace` (the knowledge they read). ``from snnkd.methods import X``
is the plugin API (``HParam``, ``Method``, ``register``, ``term``) and the package's:
it re-exports the public names of base, registry and discovery.
"""

from snnkd.methods.base import HParam, Method, Recipe, RecipeLoss, TeacherRole, Term, compose, term
from snnkd.methods.discovery import BUILTIN_PACKAGE, ENTRY_POINT_GROUP, builtin_dir, discover, get_method
from snnkd.methods.registry import METHODS, register

__all__ = [
    "BUILTIN_PACKAGE",
    "ENTRY_POINT_GROUP",
    "METHODS",
    "HParam",
    "Method",
    "Recipe",
    "RecipeLoss",
    "TeacherRole",
    "Term",
    "builtin_dir",
    "compose",
    "discover",
    "get_method",
    "register",
    "term",
]
