"""Where a study lives: a journal file (one machine) or a SQLAlchemy database (many).

- ``journal:///abs/path.journal`` (or any path ending in ``.journal``): Optuna's
  ``JournalStorage`` over a ``JournalFileBackend``; safe for several processes
  on one machine. It has no heartbeat, so a trial left running by a dead
  worker of *this* host (its pid no longer exists) is failed and retried by
  :func:`recover_dead_local_trials`.
- any other string is a SQLAlchemy URL (``postgresql://user:pw@host/db``,
  ``sqlite:///file.db``): ``RDBStorage`` with heartbeats; a trial whose
  heartbeat stops for ``grace_period`` seconds is failed and re-queued by
  ``RetryHeartbeatStaleTrialCallback`` (the successor of ``RetryFailedTrialCallback``
  in Optuna 5).

A password in a URL is never printed: :func:`mask` renders it as ``***`` (:mod:`snnkd.tracking.redact`).
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from snnkd.errors import ConfigError
from snnkd.processes import pid_alive
from snnkd.tracking.redact import redact

JOURNAL_PREFIX = "journal:"
WORKER_ATTR = "worker"


def is_journal(url: str) -> bool:
    return url.startswith(JOURNAL_PREFIX) or url.endswith(".journal")


def journal_path(url: str) -> Path:
    """``journal:///a/b.journal`` -> ``/a/b.journal``; ``journal://rel.journal`` -> ``rel.journal``."""
    rest = url[len(JOURNAL_PREFIX) :] if url.startswith(JOURNAL_PREFIX) else url
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise ConfigError("--storage: a journal URL needs a file path, e.g. journal:///tmp/study.journal")
    return Path(rest)


def published(url: str) -> str:
    """The storage as written into committed files: :func:`mask`, and a journal under the
    working directory as a relative path (``journal://runs/tuning/d/m.journal``), so that a
    study summary does not depend on where the checkout lies."""
    if is_journal(url):
        path = journal_path(url)
        if path.is_absolute() and path.is_relative_to(Path.cwd()):
            return f"{JOURNAL_PREFIX}//{path.relative_to(Path.cwd())}"
        return url
    return mask(url)


def default_storage(dataset: str, method_slug: str, root: str | Path = "runs/tuning") -> str:
    """The default journal file of a study: ``runs/tuning/<dataset>/<method>.journal``."""
    return f"{JOURNAL_PREFIX}//{(Path(root) / dataset / f'{method_slug}.journal').resolve()}"


def mask(url: str) -> str:
    """The URL with its password replaced by ``***`` (:func:`snnkd.tracking.redact.redact`)."""
    return redact(url)


def scrub(text: str, url: str) -> str:
    """``text`` with every URL password, and ``url``'s anywhere, masked (:mod:`snnkd.tracking.redact`)."""
    return redact(text, url)


def open_storage(url: str, heartbeat_interval: int, grace_period: int, max_retry: int) -> Any:
    """An Optuna storage for ``url``; an unreachable or malformed one is a one-line ConfigError."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    retry = _retry_callback(max_retry)
    if is_journal(url):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = journal_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as err:
            raise ConfigError(f"--storage: cannot open journal file {path}: {err.strerror}") from None
    engine_kwargs: dict[str, Any] = {}
    url = with_driver(url)
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=retry,
                )
        except Exception as err:  # sqlalchemy/psycopg2/ImportError: all are "cannot use this storage"
            from sqlalchemy.exc import IntegrityError, ProgrammingError

            if isinstance(err, IntegrityError | ProgrammingError) and attempt < 2:
                time.sleep(0.5 + attempt)  # another worker is creating the tables right now
                continue
            raise ConfigError(f"--storage: cannot use {mask(url)}: {_first_line(err, url)}") from None
    raise AssertionError("unreachable")


def with_driver(url: str) -> str:
    """``postgresql://`` with the installed driver named: SQLAlchemy 2.1 defaults to psycopg 3,
    the suite ships psycopg2."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _first_line(err: BaseException, url: str) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return scrub(line, url)


def _retry_callback(max_retry: int) -> Any:
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def worker_tag(trial_number: int) -> dict[str, Any]:
    """The identity of the process running a trial, stored on the trial."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "trial": trial_number}


def recover_dead_local_trials(study: Any, max_retry: int) -> list[int]:
    """Fail and re-queue running trials whose worker process on this host no longer exists.

    This is the journal file's stand-in for heartbeats (a journal is used from one
    machine). A trial is only touched when its worker tag names this host and
    this very trial (a retried trial inherits its predecessor's tag). Returns
    the numbers of the trials failed here.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = []
    retry = _retry_callback(max_retry)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = t.user_attrs.get(WORKER_ATTR)
        if not isinstance(tag, dict) or tag.get("host") != host or tag.get("trial") != t.number:
            continue
        pid = int(tag.get("pid", 0))
        if pid <= 0 or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            if study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
                retry(study, study._storage.get_trial(t._trial_id))
        except UpdateFinishedTrialError:
            pass  # another worker got there first
    return failed
