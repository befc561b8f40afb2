"""The MLflow experiment that holds a suite's runs.

A module of its own so that tracking (which logs runs) and the suite (which
plans them) share the name without tracking ever importing the suite.
"""

from __future__ import annotations


def experiment_name(suite: str) -> str:
    """The MLflow experiment of a suite: ``snnkd-<suite>``; ``suite`` must be a plain name
    (:mod:`snnkd.names`): the experiment's artifacts go to ``mlartifacts/snnkd-<suite>``."""
    from snnkd.names import check_name

    return f"snnkd-{check_name(suite, 'suite')}"
