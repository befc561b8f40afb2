"""The plugin API's ``snnkd.checkpoint``: the public names of :mod:`snnkd.trainer.checkpoint`, re-exported.

Method plugins keep their import paths (``methods/md_snn.py`` imports it): ``methods/*.py`` are
dependencies of their stages, never edited for a move of the code.
"""

from snnkd.trainer.checkpoint import *  # noqa: F403
