"""What identifies a plugin's definition (a loss term's function, a method's recipe), and where it is.

A plugin file loaded twice (as an installed package and from its folder) defines
equal objects that are not the same object; two different plugins registering one
name define different ones. Registries (:mod:`snnkd.methods.terms`, :mod:`snnkd.methods`)
tell the two cases apart by :func:`code_of` and name both sources with :func:`source_of`.
"""

from __future__ import annotations

import inspect


def code_of(obj: object) -> object:
    """What identifies a definition: its qualified name and source text (bytecode without source)."""
    if obj is None:
        return None
    try:
        text: object = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = (code.co_code, code.co_consts) if code is not None else id(obj)
    return getattr(obj, "__qualname__", None), text


def source_of(fn: object) -> str:
    """``file:line`` of a function's definition (its module when the file is unknown)."""
    code = getattr(fn, "__code__", None)
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    where = path or getattr(fn, "__module__", "?")
    return f"{where}:{code.co_firstlineno}" if code is not None else str(where)
