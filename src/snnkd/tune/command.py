"""The ``snnkd tune`` sub-command: flags -> :class:`TuneSpec` -> a finished study."""

from __future__ import annotations

import argparse
import os
from typing import Any

from snnkd.errors import ConfigError

STORAGE_ENV = "SNNKD_TUNE_STORAGE"
#: where an ad-hoc ``snnkd tune`` writes: not ``results/``, whose tuned files the pipeline tracks
ADHOC_RESULTS = "runs/tune"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``tune`` on the ``snnkd`` sub-command parser."""
    from snnkd.cli.run_flags import add_train_flags

    p = sub.add_parser(
        "tune",
        help="Optuna study over a method's hyper-parameters (validation split only)",
        description="Tune a method's hyper-parameters (search space from its plugin) with Optuna. "
        "The same command with the same --storage and --study on several machines shares one study.",
    )
    add_train_flags(p)
    p.add_argument("--trials", type=int, default=20, help="finished trials the study must hold (default 20)")
    p.add_argument("--objective", help="accuracy (default); same as --objectives")
    p.add_argument("--objectives", help="accuracy | accuracy,spikes | accuracy,energy")
    p.add_argument(
        "--storage",
        help=f"SQLAlchemy URL (postgresql://...) or journal:///path (default: ${STORAGE_ENV}, "
        "else runs/tuning/<dataset>/<method>.journal)",
    )
    p.add_argument("--study", help="study name (default <dataset>-<method>-<objectives>)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--pruner", default="hyperband", help="hyperband|median|halving|hyperband-async|none")
    p.add_argument("--heartbeat-interval", type=int, default=10, help="seconds (database storage)")
    p.add_argument("--grace-period", type=int, default=60, help="seconds without heartbeat before a retry")
    p.add_argument("--max-retry", type=int, default=3, help="retries of a trial whose worker died")
    p.add_argument(
        "--results-dir",
        default=ADHOC_RESULTS,
        help=f"root of tuned/ and tuning/ outputs (default {ADHOC_RESULTS}; the pipeline's tune stages "
        "alone write results/<suite>/tuned/)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (default 1: small networks "
        "train fastest single-threaded, and workers do not oversubscribe the cores)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log the study to MLflow")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_tune)
    return p


def build_spec(args: argparse.Namespace) -> Any:
    """Validate the flags into a TuneSpec (one-line ConfigError on bad input)."""
    from pydantic import ValidationError

    from snnkd.cli.run_flags import run_config
    from snnkd.tune.spec import PRUNERS, TuneSpec, default_study_name, parse_objectives, slug
    from snnkd.tune.storage import default_storage

    if args.objective and args.objectives and args.objective != args.objectives:
        raise ConfigError("--objective/--objectives: give one of them")
    objectives = parse_objectives(args.objectives or args.objective or "accuracy")
    if args.pruner not in PRUNERS:
        raise ConfigError(f"--pruner: '{args.pruner}' is not valid; valid choices: {', '.join(PRUNERS)}")
    if args.trials is None or args.trials < 1:
        raise ConfigError(f"--trials: must be at least 1, got {args.trials}")
    if args.threads < 1:
        raise ConfigError(f"--threads: must be at least 1, got {args.threads}")
    if args.workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {args.workers}")
    if args.heartbeat_interval < 1 or args.grace_period <= args.heartbeat_interval:
        raise ConfigError("--grace-period: must exceed --heartbeat-interval (both in seconds, >= 1)")
    cfg = run_config(args)
    base = cfg.model_dump()
    storage = args.storage or os.environ.get(STORAGE_ENV) or default_storage(cfg.dataset, slug(cfg.method))
    try:
        return TuneSpec(
            base=base,
            trials=args.trials,
            objectives=objectives,
            storage=storage,
            study=args.study or default_study_name(cfg.method, cfg.dataset, objectives),
            workers=args.workers,
            pruner=args.pruner,
            heartbeat_interval=args.heartbeat_interval,
            grace_period=args.grace_period,
            max_retry=args.max_retry,
            results_dir=args.results_dir,
            mlflow=not args.no_mlflow,
            sampler_seed=cfg.seed,
            threads=args.threads,
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def cmd_tune(args: argparse.Namespace) -> int:
    """Run (or join) a study and print its result."""
    from snnkd.errors import SnnkdError
    from snnkd.tune import study
    from snnkd.tune.storage import scrub

    spec = build_spec(args)
    try:
        result = study.run(spec, quiet=args.quiet)
    except SnnkdError as err:  # make sure no message carries the storage password
        err.args = (scrub(str(err), spec.storage),)
        raise
    except Exception as err:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(err, SQLAlchemyError):
            raise
        line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise SnnkdError(f"storage: {scrub(line, spec.storage)}") from None
    print(study.describe(result, spec))
    return 0
