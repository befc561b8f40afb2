"""The MLflow store: where it is, checked before any training, opened under a lock.

The store defaults to ``sqlite:///<repository root>/mlflow.db`` (the root of
the repository a ``dvc exp`` worker's temporary copy was made from, so those
workers share it); ``MLFLOW_TRACKING_URI`` overrides it. :func:`init_store`
creates the database and the experiment once, before runs start in parallel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snnkd.errors import SnnkdError


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
    :class:`TrackingError` line, the password masked (:mod:`snnkd.tracking.redact`).
    """
    from snnkd.tracking.redact import redact

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
            f"mlflow: cannot open the store {redact(uri)}: {redact(first_line(err), uri)}"
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

    from snnkd.tracking.redact import redact
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
        why = redact(first_line(err), uri)
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


def first_line(err: BaseException) -> str:
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

    from snnkd.tracking.redact import redact

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
                f"mlflow: cannot open the store {redact(uri)}: {redact(first_line(err), uri)}{hint}"
            ) from None
    return client


def masked(uri: str) -> str:
    """The store's URI as written beside a checkpoint (``mlflow_run.json``): its password masked."""
    from snnkd.tracking.redact import redact

    return redact(uri)
