"""MLflow records of a study: one parent run per study, one nested run per trial.

The parent run's id is kept as a study attribute, so every worker on every
machine nests its trials under the same parent. Only masked storage URLs are
ever logged. Logging goes through ``MlflowClient`` (no global active run), so
concurrent worker processes never share state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from snnkd.tune.spec import TuneSpec
from snnkd.tune.storage import mask, published

PARENT_ATTR = "mlflow_parent_run_id"
PENDING_ATTR = "mlflow_parent_pending"  # set by the command that created the study, which makes the parent
EXPERIMENT = "snnkd-tuning"


def tracking_uri() -> str:
    """The suite's MLflow store: ``MLFLOW_TRACKING_URI`` or ``<repo>/mlflow.db`` (``tracking.store``)."""
    from snnkd.tracking import store

    return store.tracking_uri()


def _client() -> Any:
    import logging

    from snnkd.tracking import store

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return store.open_client(tracking_uri())


def _experiment_id(client: Any, name: str = EXPERIMENT) -> str:
    from snnkd.tracking import store

    return store.get_or_create_experiment(client, name)


def _provenance() -> dict[str, str]:
    from snnkd.tracking import provenance, store

    tags = {f"{provenance.TAG}version.{k}": v for k, v in provenance.versions().items()}
    tags.update(provenance.git_state(store.repo_root()))
    return tags


def study_params(spec: TuneSpec) -> dict[str, Any]:
    """The parameters of a study as logged on its parent run (the storage URL masked)."""
    return {
        "method": spec.method,
        "dataset": spec.dataset,
        "objectives": ",".join(spec.objectives),
        "trials": spec.trials,
        "epochs": spec.base.get("train", {}).get("epochs", "default"),
        "seed": spec.base.get("seed", 0),
        "pruner": "none" if spec.multi else spec.pruner,
        "storage": published(spec.storage),
        "study": spec.study,
        "workers": spec.workers,
    }


def ensure_parent(spec: TuneSpec, study: Any, owner: bool = False, wait: float = 120.0) -> str:
    """The parent run of ``study``: the one recorded on the study, or a new one.

    Exactly one is made when several commands start the same study at once: the
    command that created the study (``owner``; it marked the parent pending then)
    makes it, the others wait up to ``wait`` seconds for its id. A study made
    without MLflow logging (nothing pending) gets its parent from the first command
    that claims one; a claim read back after a short pause decides, the loser is deleted.
    """
    existing = _reload_attr(study)
    if existing:
        return existing
    if not owner:
        if not _reload_attr(study, PENDING_ATTR) and not study.get_trials(deepcopy=False):
            time.sleep(1.0)  # a brand-new study: its creator may be about to mark it pending
        deadline = time.monotonic() + wait
        while _reload_attr(study, PENDING_ATTR) and time.monotonic() < deadline:
            existing = _reload_attr(study)
            if existing:
                return existing
            time.sleep(0.25)
    client = _client()
    run = client.create_run(
        _experiment_id(client),
        run_name=f"tune {spec.study}",
        tags={
            "snnkd.kind": "study",
            "snnkd.study": spec.study,
            "snnkd.storage": mask(spec.storage),
            **_provenance(),
        },
    )
    rid = run.info.run_id
    for k, v in study_params(spec).items():
        client.log_param(rid, k, v)
    study.set_user_attr(PARENT_ATTR, rid)
    time.sleep(0.2)
    winner = _reload_attr(study) or rid
    if winner != rid:
        client.delete_run(rid)
    return winner


def _reload_attr(study: Any, name: str = PARENT_ATTR) -> Any:
    """A user attribute of the study as the storage holds it now (not a cached copy)."""
    return study._storage.get_study_user_attrs(study._study_id).get(name)


class TrialRun:
    """The nested MLflow run of one trial (a no-op when MLflow logging is off)."""

    def __init__(self, spec: TuneSpec, parent: str | None, number: int, params: Mapping[str, Any]) -> None:
        self.client = _client() if parent else None
        self.run_id: str | None = None
        if self.client is None:
            return
        parent_run = self.client.get_run(parent)
        run = self.client.create_run(
            parent_run.info.experiment_id,
            run_name=f"trial {number}",
            tags={
                "mlflow.parentRunId": parent,
                "snnkd.kind": "trial",
                "snnkd.study": spec.study,
                "snnkd.trial": str(number),
            },
        )
        self.run_id = run.info.run_id
        for k, v in params.items():
            self.client.log_param(self.run_id, k, v)

    def metric(self, key: str, value: float, step: int | None = None) -> None:
        if self.client is not None:
            self.client.log_metric(self.run_id, key, float(value), step=step or 0)

    def end(self, status: str, metrics: Mapping[str, float] | None = None) -> None:
        """``status``: FINISHED, KILLED (pruned) or FAILED."""
        if self.client is None:
            return
        for k, v in (metrics or {}).items():
            self.client.log_metric(self.run_id, k, float(v))
        self.client.set_terminated(self.run_id, status=status)


def log_best(parent: str, values: Mapping[str, float], params: Mapping[str, Any], tags: Mapping[str, str]):
    """The study's chosen values and parameters, on its parent run."""
    client = _client()
    for k, v in values.items():
        client.log_metric(parent, f"best_{k}", float(v))
    for k, v in params.items():
        client.set_tag(parent, f"best.{k}", str(v))
    for k, v in tags.items():
        client.set_tag(parent, k, v)
    client.set_terminated(parent, status="FINISHED")
