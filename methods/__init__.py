"""The built-in methods, one file per method (installed as ``snnkd.methods_builtin``).

:func:`snnkd.methods.discover` loads every ``*.py`` file here whose name does
not start with ``_``; each file calls :func:`snnkd.methods.register`.
"""
