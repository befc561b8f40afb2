"""The plugin API's ``snnkd.trace``: the public names of :mod:`snnkd.methods.trace`, re-exported.

Method plugins keep their import paths (``methods/md_snn.py`` imports it, docs/plugins.md names
``snnkd.trace.Knowledge``): ``methods/*.py`` are dependencies of their stages, never edited for a
move of the code.
"""

from snnkd.methods.trace import *  # noqa: F403
