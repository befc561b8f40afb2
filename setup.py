"""Maps the top-level ``methods/`` folder into the package as ``snnkd.methods_builtin``.

Everything else is in ``pyproject.toml``; this file only exists because a
package found under ``src/`` and one mapped from another folder cannot both be
declared there. Builds happen in a temporary folder removed when the build ends,
so ``pip wheel .`` leaves no ``build/`` in the checkout (nor stale files in a wheel).
"""

import atexit
import shutil
import tempfile

from setuptools import find_packages, setup

BUILD = tempfile.mkdtemp(prefix="snnkd-build-")
atexit.register(shutil.rmtree, BUILD, ignore_errors=True)

setup(
    packages=[*find_packages("src"), "snnkd.methods_builtin"],
    package_dir={"": "src", "snnkd.methods_builtin": "methods"},
    options={"build": {"build_base": BUILD}},
)
