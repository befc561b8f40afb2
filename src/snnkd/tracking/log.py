"""MLflow logging of training runs, with provenance.

Every tracked run is one MLflow run in the experiment of its suite
(``snnkd-<suite>``): the resolved configuration as parameters, every epoch's
statistics as step metrics, the final metrics, provenance tags (method,
dataset, model, seed, teacher checkpoint and teacher run, git commit, DVC
stage, package versions, device) and ``metrics.json`` plus the resolved
configuration as artifacts.

MLflow never runs on the training thread: a :class:`Tracker` hands every call
to one worker thread (which also pays for importing MLflow and opening the
store), so training only waits for the last calls at the end. A run that
raises is marked ``FAILED`` (``KILLED`` on an interrupt); a run resumed from
its checkpoint continues the same MLflow run, whose id is kept beside the
checkpoint in ``mlflow_run.json``.

The store and its checks are :mod:`snnkd.tracking.store`; provenance tags and run keys
:mod:`snnkd.tracking.provenance`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snnkd.tracking.experiments import experiment_name
from snnkd.tracking.provenance import TAG, git_state, run_tags, versions
from snnkd.tracking.store import (
    TrackingError,
    first_line,
    get_or_create_experiment,
    masked,
    open_client,
    repo_root,
    tracking_uri,
)

RUN_FILE = "mlflow_run.json"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}} -> {"train.lr": 1e-3}`` (lists kept whole)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def final_numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """Numeric results of ``metrics.json`` as MLflow metrics; per-layer rates as ``firing_rate/<layer>``."""
    out = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }
    for layer, rate in (metrics.get("firing_rate_per_layer") or {}).items():
        out[f"firing_rate/{layer}"] = float(rate)
    return out


class Tracker:
    """Logs one training run to MLflow from a worker thread.

    Use it through :func:`track`: ``on_epoch`` is the trainer's epoch callback
    and :meth:`finish` records the final metrics and artifacts. ``seconds`` is
    the time the calling (training) thread spent in tracking.
    """

    def __init__(
        self,
        *,
        experiment: str,
        run_name: str,
        params: dict[str, Any],
        tags: dict[str, str],
        state_dir: Path,
        resume: bool = False,
        teacher_sha256: str | None = None,
        uri: str | None = None,
    ) -> None:
        t0 = time.perf_counter()
        self.uri = uri or tracking_uri()
        self.experiment = experiment
        self.state_file = Path(state_dir) / RUN_FILE
        self.run_id: str | None = None
        self.seconds = 0.0
        self.started = t0
        self._error: BaseException | None = None
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="mlflow", daemon=True)
        self._thread.start()
        self._submit(lambda: self._start(run_name, params, tags, resume, teacher_sha256))
        self.seconds += time.perf_counter() - t0

    # -- worker side ---------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as err:  # kept and raised on the training thread
                    self._error = err

    def _submit(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def _start(self, run_name, params, tags, resume, teacher_sha256) -> None:
        from mlflow.entities import Param

        self.client = open_client(self.uri)
        exp_id = get_or_create_experiment(self.client, self.experiment)
        tags = {**tags, **git_state(repo_root()), **{f"{TAG}version.{k}": v for k, v in versions().items()}}
        if teacher_sha256:
            found = self.client.search_runs(
                [exp_id],
                filter_string=f"tags.`{TAG}checkpoint_sha256` = '{teacher_sha256}' and "
                "attributes.status = 'FINISHED'",
                max_results=1,
            )
            if found:
                tags[f"{TAG}teacher_run"] = found[0].info.run_id
        previous = self._previous_run() if resume else None
        if previous is not None:
            self.run_id = previous
            self.client.update_run(previous, status="RUNNING")
            self.client.set_tag(previous, f"{TAG}resumed", "true")
            return
        run = self.client.create_run(exp_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        from snnkd.core.atomic import atomic_text

        atomic_text(self.state_file, json.dumps({"run_id": self.run_id, "uri": masked(self.uri)}))
        items = [Param(k, _param(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def _previous_run(self) -> str | None:
        if not self.state_file.is_file():
            return None
        saved = json.loads(self.state_file.read_text())
        if saved.get("uri") not in (self.uri, masked(self.uri)):
            return None
        try:
            run = self.client.get_run(saved["run_id"])
        except Exception:  # deleted, or another store
            return None
        # the same work folder is the same run: continue it, finished or not
        return run.info.run_id

    def _log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(k, float(v), ts, step) for k, v in values.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    # -- training side -------------------------------------------------------
    def on_epoch(self, epoch: int, stats: dict[str, float]) -> None:
        """The trainer's epoch callback: queue the epoch's numbers as step metrics."""
        t0 = time.perf_counter()
        values = {k: v for k, v in stats.items() if isinstance(v, int | float) and k != "epoch"}
        self._submit(lambda: self._log_metrics(values, epoch))
        self.seconds += time.perf_counter() - t0

    def finish(self, metrics: dict[str, Any], files: list[Path], extra_tags: dict[str, str]) -> None:
        """Log final metrics, tags and artifacts, mark the run FINISHED and wait for the worker."""
        t0 = time.perf_counter()
        numbers = final_numbers(metrics)

        def job() -> None:
            self._log_metrics(numbers, int(metrics.get("epochs", 0)))
            for key, value in extra_tags.items():
                self.client.set_tag(self.run_id, key, value)
            for f in files:
                self.client.log_artifact(self.run_id, str(f))

        self._submit(job)
        self._close("FINISHED", t0)

    def fail(self, status: str = "FAILED") -> None:
        """Mark the run ``FAILED`` (or ``KILLED``) and stop the worker; never raises."""
        t0 = time.perf_counter()
        self._close(status, t0, quiet=True)

    def _close(self, status: str, t0: float, quiet: bool = False) -> None:
        def end() -> None:
            if self.run_id is None:
                return
            main = self.seconds + (time.perf_counter() - t0)
            timing = {
                "tracking_seconds": main,  # the training thread's time in tracking calls
                "tracking_cpu_seconds": time.thread_time(),  # the worker's CPU time (import, store, logging)
                "wall_seconds": time.perf_counter() - self.started,
            }
            self._log_metrics(timing, 0)
            self.client.set_terminated(self.run_id, status=status)

        self._submit(end)
        self._submit(None)
        self._thread.join()
        self.seconds += time.perf_counter() - t0
        if self._error is not None and not quiet:
            from snnkd.tracking.redact import redact

            raise TrackingError(
                f"mlflow: could not record the run in {redact(self.uri)}: "
                f"{redact(first_line(self._error), self.uri)}"
            ) from None


def _param(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text[:6000]


@contextmanager
def track(tracker: Tracker | None) -> Iterator[Tracker | None]:
    """Mark the run FAILED (KILLED on an interrupt) when the body raises."""
    try:
        yield tracker
    except KeyboardInterrupt:
        if tracker is not None:
            tracker.fail("KILLED")
        raise
    except BaseException:
        if tracker is not None:
            tracker.fail("FAILED")
        raise


def start(
    cfg: Any,
    run: Any,
    *,
    suite: str,
    stage: str | None,
    state_dir: Path,
    resume: bool,
    role: str = "method",
    variant: str | None = None,
) -> Tracker:
    """A Tracker for a prepared :class:`~snnkd.trainer.run.Run`; a sweep ``variant`` names the run and is
    tagged ``snnkd.variant`` (its ``snnkd.method`` stays the method it runs)."""
    params = flatten(cfg.model_dump(exclude={"hparams"}))
    params.update({f"hparams.{k}": v for k, v in run.hparams.items()})
    teacher = getattr(run, "teacher", None)
    model = f"{cfg.model}-ann" if cfg.ann else cfg.model
    label = variant or cfg.method.replace(" ", "")
    name = f"{role}/{cfg.dataset}/{model}/{label}/seed{cfg.seed}"
    tags = run_tags(cfg, run, suite=suite, stage=stage, role=role)
    if variant is not None:
        tags[f"{TAG}variant"] = variant
    return Tracker(
        experiment=experiment_name(suite),
        run_name=name,
        params=params,
        tags=tags,
        state_dir=state_dir,
        resume=resume,
        teacher_sha256=teacher.digest if teacher else None,
    )
