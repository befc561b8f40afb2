"""Maps the top-level ``methods/`` folder into the package as ``snnkd.methods_builtin``.

Everything else is in ``pyproject.toml``; this file only exists because a
package found under ``src/`` and one mapped from another folder cannot both be
declared there.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages("src"), "snnkd.methods_builtin"],
    package_dir={"": "src", "snnkd.methods_builtin": "methods"},
)
