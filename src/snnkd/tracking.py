"""MLflow tracking of training runs, with provenance.

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

The store defaults to ``sqlite:///<repository root>/mlflow.db`` (the root of
the repository a ``dvc exp`` worker's temporary copy was made from, so those
workers share it); ``MLFLOW_TRACKING_URI`` overrides it. :func:`init_store`
creates the database and the experiment once, before runs start in parallel.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from snnkd.errors import SnnkdError
from snnkd.experiments import experiment_name

RUN_FILE = "mlflow_run.json"
PACKAGES = ("snnkd", "torch", "spikingjelly", "mlflow", "dvc", "numpy", "optuna")
TAG = "snnkd."  # prefix of the suite's own tags


class TrackingError(SnnkdError):
    """MLflow could not record a run."""

    exit_code = 1


def repo_root(start: Path | None = None) -> Path:
    """The repository root (nearest folder with ``.dvc`` or ``.git``), seen through DVC temp copies."""
    here = (start or Path.cwd()).resolve()
    marker = f"{os.sep}.dvc{os.sep}tmp{os.sep}exps{os.sep}"
    text = str(here)
    if marker in text:  # a `dvc exp run --temp/--queue` workspace inside the real repository
        return Path(text.split(marker, 1)[0])
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir() or (folder / ".git").exists():
            return folder
    return here


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` or the repository's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # MLflow 3's classic ML view


def is_server(uri: str) -> bool:
    """A tracking server (``http(s)://``, ``databricks``): it owns the artifact store."""
    return uri.split(":", 1)[0] in {"http", "https", "databricks"}


def artifact_location(experiment: str, uri: str | None = None) -> str | None:
    """Where a new experiment keeps its artifacts.

    ``None`` for a tracking server (its own artifact store, ``mlflow-artifacts:/``
    by default, so artifacts leave the training machine); a repository-local
    ``mlartifacts/<experiment>`` for a local database, shared by ``dvc exp`` workers.
    """
    if is_server(uri or tracking_uri()):
        return None
    return (repo_root() / "mlartifacts" / experiment).as_uri()


def get_or_create_experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, created if absent, typed as a classic ML experiment."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=artifact_location(name, client.tracking_uri), tags=EXPERIMENT_KIND
        )
    except MlflowException:  # created meanwhile by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def init_store(experiment: str, uri: str | None = None) -> tuple[str, str]:
    """Check the store (:func:`check_store`), create its tables and the experiment now; returns
    (uri, experiment id)."""
    uri = uri or tracking_uri()
    return uri, check_store(experiment, uri)


#: tables every MLflow database has held since its first schema; a store lacking one is damaged
CORE_TABLES = ("experiments", "runs", "metrics", "params", "tags", "alembic_version")
#: while checking a tracking server: one attempt, a short timeout (MLflow's documented variables)
QUICK_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
DAMAGED = "move it away, then `snnkd tracking init` creates a new one"


def is_database(uri: str) -> bool:
    """A SQLAlchemy database URL (``sqlite:``, ``postgresql:``, ``mysql:``, ``mssql:``, with a driver)."""
    return uri.split(":", 1)[0].split("+", 1)[0] in {"sqlite", "postgresql", "mysql", "mssql"}


def check_store(experiment: str, uri: str | None = None, create: bool = True) -> str | None:
    """Open the store now, before any training, and return the experiment's id (``None`` when absent).

    In turn: a database is reachable with its driver installed, and is either empty (a
    new store) or holds MLflow's :data:`CORE_TABLES` (:func:`check_database`); MLflow
    opens it (its schema current); the experiment exists (created with ``create``) and
    its runs can be searched. A tracking server gets one attempt with a short timeout
    (:data:`QUICK_HTTP`), not MLflow's minutes of retries. Any failure is one
    :class:`TrackingError` line, the password masked (:mod:`snnkd.redact`).
    """
    from snnkd.redact import redact

    uri = uri or tracking_uri()
    if is_database(uri):
        check_database(uri)
    saved = {k: os.environ.get(k) for k in QUICK_HTTP}
    os.environ.update(QUICK_HTTP)
    try:
        client = open_client(uri)
        if create:
            exp_id = get_or_create_experiment(client, experiment)
        else:
            exp = client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp is not None else None
        if exp_id is not None:
            client.search_runs([exp_id], max_results=1)
    except TrackingError:
        raise
    except Exception as err:
        raise TrackingError(
            f"mlflow: cannot open the store {redact(uri)}: {redact(_first_line(err), uri)}"
        ) from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return exp_id


def check_database(uri: str) -> None:
    """A database store is reachable (one attempt), its driver installed, and it is empty or MLflow's.

    Read with SQLAlchemy's inspector, before MLflow opens it: MLflow retries an
    unreachable database for minutes, and on a store missing a table it creates
    that table afresh, hiding the damage.
    """
    import sqlalchemy

    from snnkd.redact import redact
    from snnkd.tune.storage import with_driver

    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).exists():
        return  # a new store: MLflow creates it
    url = with_driver(uri)
    connect_args = {"connect_timeout": 10} if url.startswith(("postgresql", "mysql")) else {}
    engine = None
    try:
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    except Exception as err:  # no driver, unreachable, wrong database, not a database file
        why = redact(_first_line(err), uri)
        if isinstance(err, ImportError | sqlalchemy.exc.NoSuchModuleError):
            why = f"its driver is not installed ({why})"
        elif "not a database" in why:
            why = f"{why}; {DAMAGED}"
        raise TrackingError(f"mlflow: cannot open the store {redact(uri)}: {why}") from None
    finally:
        if engine is not None:
            engine.dispose()
    if not {t for t in tables if not t.startswith("alembic_")}:
        return  # empty: MLflow creates its tables
    missing = [t for t in CORE_TABLES if t not in tables]
    if len(missing) == len(CORE_TABLES):
        raise TrackingError(
            f"mlflow: the store {redact(uri)} is not an MLflow database (it holds other tables: "
            f"{', '.join(sorted(tables)[:5])}); use an empty database or an MLflow one"
        )
    if missing:
        raise TrackingError(
            f"mlflow: the store {redact(uri)} is damaged: it has no table '{missing[0]}'; {DAMAGED}"
        )


def _first_line(err: BaseException) -> str:
    """The first line of an error's message (a SQLAlchemy error's driver message), else its type."""
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text[0] if text else type(err).__name__


def store_lock(uri: str) -> Any:
    """An inter-process lock (``filelock``) held while a store's tables are created or migrated.

    Beside a SQLite file (``mlflow.db.lock``); for a server database, in the
    temporary folder under a hash of the URL (serialising this machine's processes;
    MLflow's own migrations are idempotent across machines). Not re-entrant: never nest it.
    """
    import hashlib
    import tempfile

    from filelock import FileLock

    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        db.parent.mkdir(parents=True, exist_ok=True)
        path = db.with_name(db.name + ".lock")
    else:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"snnkd-mlflow-{digest}.lock"
    return FileLock(str(path), timeout=600)


def open_client(uri: str | None = None) -> Any:
    """An ``MlflowClient`` on a ready store: its tables created and migrated under :func:`store_lock`.

    Several processes opening a fresh SQLite store at once would otherwise race to
    create and migrate its tables (and could leave it half-migrated). A store that
    cannot be opened is a one-line :class:`TrackingError`.
    """
    import logging

    from mlflow import MlflowClient

    from snnkd.redact import redact

    for name in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = uri or tracking_uri()
    with store_lock(uri):
        try:
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)  # opens the store: creates or migrates its tables
        except Exception as err:
            hint = "" if is_server(uri) else f" (a damaged store: {DAMAGED})"
            raise TrackingError(
                f"mlflow: cannot open the store {redact(uri)}: {redact(_first_line(err), uri)}{hint}"
            ) from None
    return client


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


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirtiness of the repository at ``root`` (empty outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit, f"{TAG}git_dirty": str(bool(dirty)).lower()}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_tags(device: str) -> dict[str, str]:
    """Where a run ran. Bit-identical results need the same CPU kernels: ATen's CPU capability
    (AVX2, AVX512, ...) picks different vectorised reductions, so it is recorded with the model."""
    import torch

    tags = {
        f"{TAG}device": device,
        f"{TAG}host_cpu": cpu_model(),
        f"{TAG}cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if device.startswith("cuda"):
        tags[f"{TAG}device_name"] = torch.cuda.get_device_name()
    return tags


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
        from snnkd.atomic import atomic_text

        atomic_text(self.state_file, json.dumps({"run_id": self.run_id, "uri": _masked(self.uri)}))
        items = [Param(k, _param(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def _previous_run(self) -> str | None:
        if not self.state_file.is_file():
            return None
        saved = json.loads(self.state_file.read_text())
        if saved.get("uri") not in (self.uri, _masked(self.uri)):
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
            from snnkd.redact import redact

            raise TrackingError(
                f"mlflow: could not record the run in {redact(self.uri)}: "
                f"{redact(_first_line(self._error), self.uri)}"
            ) from None


def _masked(uri: str) -> str:
    """The store's URI as written beside a checkpoint (``mlflow_run.json``): its password masked."""
    from snnkd.redact import redact

    return redact(uri)


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


def run_tags(cfg: Any, run: Any, *, suite: str, stage: str | None, role: str) -> dict[str, str]:
    """Provenance tags of a run (its config, method, teacher, DVC stage, device)."""
    teacher = getattr(run, "teacher", None)
    tags = {
        f"{TAG}suite": suite,
        f"{TAG}role": role,
        f"{TAG}method": cfg.method,
        f"{TAG}dataset": cfg.dataset,
        f"{TAG}model": f"{cfg.model}-ann" if cfg.ann else cfg.model,
        f"{TAG}seed": str(cfg.seed),
        f"{TAG}identity": cfg.identity(),
        f"{TAG}run_key": run_key(cfg.identity(), teacher.digest if teacher else None),
        f"{TAG}readout": cfg.readout,
        f"{TAG}command": _masked(" ".join(sys.argv)),  # a --storage URL's password stays out of MLflow
        f"{TAG}cpu_isa": cfg.cpu_isa,
        **device_tags(str(run.device)),
    }
    if stage := stage or os.environ.get("DVC_STAGE"):
        tags[f"{TAG}dvc_stage"] = stage
    if teacher is not None:
        tags[f"{TAG}teacher"] = teacher.path
        tags[f"{TAG}teacher_sha256"] = teacher.digest
    return tags


def run_key(identity: str, teacher_sha256: str | None) -> str:
    """What a run's result depends on: its config identity and its teacher's checkpoint content."""
    import hashlib

    return hashlib.sha256(f"{identity}:{teacher_sha256 or ''}".encode()).hexdigest()[:16]


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
    """A Tracker for a prepared :class:`~snnkd.run.Run`; a sweep ``variant`` names the run and is
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
