"""The plugin API's ``snnkd.terms``: the public names of :mod:`snnkd.methods.terms`, re-exported.

Method plugins keep their import paths (``methods/md_snn.py`` and docs/plugins.md's example import it):
``methods/*.py`` are dependencies of their stages, never edited for a move of the code.
"""

from snnkd.methods.terms import *  # noqa: F403
