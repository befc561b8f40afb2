"""Sub-commands of ``snnkd`` for the reproducible pipeline: suite, pipeline, tracking, leaderboard.

``build_parser`` in :mod:`snnkd.cli` calls :func:`register`; everything heavy
is imported inside the commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PARAMS = Path("params.yaml")


def cmd_suite(args: argparse.Namespace) -> int:
    from snnkd import plan, suite

    if args.action == "use":
        path = plan.use(args.name)
        print(f"{path} <- benchmarks/{args.name}.yaml (plan generated); now run: dvc repro")
    elif args.action == "plan":
        path = Path(args.name or PARAMS)
        plan.write(path, suite.load(path))
        print(f"{path}: plan regenerated")
    else:  # what the setup stage refuses, plan included
        s = plan.load_checked(args.name or PARAMS)
        runs = len(s.datasets) * len(s.run_names()) * len(s.seeds)
        what = f"{len(s.methods)} methods"
        what = f"({what} + {len(s.variants())} sweep points)" if s.variants() else what
        print(
            f"suite {s.suite}: {len(s.datasets)} datasets x {what} x {len(s.seeds)} seeds "
            f"= {runs} runs, {len(s.datasets) * len(s.networks)} reference networks; valid"
        )
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    from snnkd import pipeline
    from snnkd.errors import ConfigError

    params = Path(args.params)
    need = {"setup": 0, "data": 1, "network": 2, "method": 2, "tune": 2}[args.step]
    given = [a for a in (args.dataset, args.name, args.seed) if a is not None]
    if len(given) < need:
        usage = {1: "DATASET", 2: "DATASET NAME [SEED]"}[need]
        raise ConfigError(f"pipeline {args.step}: expected {usage}")
    if args.step == "setup":
        pipeline.setup(params)
    elif args.step == "data":
        pipeline.data(args.dataset, params=params)
    elif args.step == "tune":
        pipeline.tune(params, args.dataset, args.name)
    elif args.step == "network":
        pipeline.network(params, args.dataset, args.name, quiet=not args.progress)
    elif args.seed is not None:
        pipeline.method(params, args.dataset, args.name, args.seed, quiet=not args.progress)
    else:
        pipeline.method_seeds(params, args.dataset, args.name, quiet=not args.progress, jobs=args.jobs)
    return 0


def cmd_tracking(args: argparse.Namespace) -> int:
    from snnkd import tracking
    from snnkd.names import check_name
    from snnkd.redact import redact
    from snnkd.suite import experiment_name

    name = experiment_name(check_name(args.suite, "--suite"))
    uri, exp = tracking.init_store(name)
    print(f"experiment {name} (id {exp}) in {redact(uri)}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from snnkd import leaderboard, suite

    s = suite.load(args.params)
    result = leaderboard.build(s, Path(args.out), log=not args.no_log, from_files=args.from_files)
    for why in result["damaged"].values():
        print(f"snnkd: warning: left out, {leaderboard.DAMAGED}: {why}", file=sys.stderr)
    print(Path(result["files"]["md"]).read_text())
    return 0


def add_train_tracking(p: argparse.ArgumentParser) -> None:
    """``--track``/``--no-track`` (tracked by default), ``--suite``, ``--stage`` of ``snnkd train``."""
    p.add_argument(
        "--track",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log the run to MLflow (MLFLOW_TRACKING_URI or mlflow.db); on by default",
    )
    p.add_argument(
        "--suite", default="adhoc", help="suite the run belongs to (MLflow experiment snnkd-<suite>)"
    )
    p.add_argument(
        "--stage", default=os.environ.get("DVC_STAGE"), help="DVC stage name recorded with the run"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the pipeline's sub-commands to the ``snnkd`` parser."""
    from snnkd.arguments import positive_int

    su = sub.add_parser("suite", help="switch to or check a benchmark suite (params.yaml)")
    su.add_argument("action", choices=["use", "check", "plan"])
    su.add_argument(
        "name",
        nargs="?",
        help="use: benchmarks/<name>.yaml; check, plan: a file (default params.yaml)",
    )
    su.set_defaults(func=cmd_suite)

    pl = sub.add_parser("pipeline", help="one step of dvc.yaml (setup, data, network, tune, method)")
    pl.add_argument("step", choices=["setup", "data", "network", "tune", "method"])
    pl.add_argument("dataset", nargs="?")
    pl.add_argument("name", nargs="?", help="network or method name")
    pl.add_argument("seed", nargs="?", type=int, help="method: one seed (default: every seed of the suite)")
    pl.add_argument(
        "--jobs", type=positive_int, help="method: seeds trained at once, >= 1 (default: the suite's `jobs`)"
    )
    pl.add_argument("--params", default=str(PARAMS))
    pl.add_argument("--progress", action="store_true", help="show progress bars and epoch lines")
    pl.set_defaults(func=cmd_pipeline)

    tr = sub.add_parser("tracking", help="create the MLflow store and a suite's experiment")
    tr.add_argument("action", choices=["init"])
    tr.add_argument("--suite", default="adhoc")
    tr.set_defaults(func=cmd_tracking)

    lb = sub.add_parser("leaderboard", help="aggregate the suite's MLflow runs into results/leaderboard.*")
    lb.add_argument("--params", default=str(PARAMS))
    lb.add_argument("--out", default="results")
    lb.add_argument("--no-log", action="store_true", help="do not log the table to MLflow")
    lb.add_argument(
        "--from-files",
        action="store_true",
        help="read the published run files (results/runs/...) instead of MLflow (a clone without a store)",
    )
    lb.set_defaults(func=cmd_leaderboard)


def fit_and_track(args: argparse.Namespace, run, out: Path) -> tuple[dict, Path]:
    """``snnkd train``'s training: ``fit`` then ``write_metrics``, logged to MLflow with ``--track``."""
    from snnkd import run_files, tracking
    from snnkd.checkpoint import file_hash
    from snnkd.evaluate import write_metrics
    from snnkd.train import fit

    if not args.track:
        metrics = fit(run, out, resume=args.resume, show_progress=not args.quiet)
        return metrics, write_metrics(out, metrics)
    cfg = run.cfg
    tracker = tracking.start(cfg, run, suite=args.suite, stage=args.stage, state_dir=out, resume=args.resume)
    with tracking.track(tracker):
        metrics = fit(run, out, resume=args.resume, show_progress=not args.quiet, on_epoch=tracker.on_epoch)
        path = write_metrics(out, metrics)
        sha = file_hash(out / "checkpoint.pt")
        files = [out / name for name in run_files.FILES if (out / name).is_file()]
        tracker.finish(
            metrics, files, {f"{tracking.TAG}checkpoint_sha256": sha, f"{tracking.TAG}out": str(out)}
        )
    return metrics, path
