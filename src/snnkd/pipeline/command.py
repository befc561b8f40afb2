"""Sub-commands of ``snnkd`` for the reproducible pipeline: suite, pipeline, tracking, leaderboard.

``build_parser`` in :mod:`snnkd.cli.main` calls :func:`register`; everything heavy
is imported inside the commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PARAMS = Path("params.yaml")


def cmd_suite(args: argparse.Namespace) -> int:
    from snnkd.pipeline import params_file, plan

    if args.action in ("use", "add", "remove") and not args.name:
        from snnkd.pipeline.suite import benchmark_file

        benchmark_file(None)  # "expected NAME" with the suites there
    if args.action == "use":
        path = params_file.use(args.name)
        print(f"{path} <- benchmarks/{args.name}.yaml alone (plan generated); now run: dvc repro")
    elif args.action == "add":
        path = params_file.add(args.name)
        then = f"dvc repro leaderboard@{args.name}"
        print(f"{path} += benchmarks/{args.name}.yaml (plan generated); now run: {then}")
    elif args.action == "remove":
        path = params_file.remove(args.name)
        print(f"{path} -= {args.name} (plan generated; results/{args.name}/ left as it is)")
    elif args.action == "plan":
        path = params_file.replan(Path(args.name or PARAMS))
        print(f"{path}: plan regenerated")
    else:  # what the setup stage refuses, plan included
        for s in plan.load_checked(args.name or PARAMS).values():
            runs = len(s.datasets) * len(s.run_names()) * len(s.seeds)
            what = f"{len(s.methods)} methods"
            what = f"({what} + {len(s.variants())} sweep points)" if s.variants() else what
            print(
                f"suite {s.suite}: {len(s.datasets)} datasets x {what} x {len(s.seeds)} seeds "
                f"= {runs} runs, {len(s.datasets) * len(s.network_names())} reference networks; valid"
            )
    return 0


STEPS = {  # step -> the positional arguments it takes (a trailing "[SEED]" is optional)
    "setup": (),
    "data": ("DATASET",),
    "network": ("SUITE", "DATASET", "NAME"),
    "tune": ("SUITE", "DATASET", "METHOD"),
    "method": ("SUITE", "DATASET", "METHOD", "[SEED]"),
}


def suite_isa(args: argparse.Namespace) -> str | None:
    """The kernel ISA a pipeline stage's suite asks for (``suites.<suite>.common.cpu_isa``), or None.

    Read before torch starts (plain YAML, nothing imported), so that the stage's process is pinned
    to it (:func:`snnkd.trainer.threads.pin_isa_environment`); a file or suite it cannot read is left
    to the stage itself, which names the problem.
    """
    words = list(getattr(args, "words", None) or [])
    if getattr(args, "command", None) != "pipeline" or "SUITE" not in STEPS.get(args.step, ()) or not words:
        return None
    import yaml

    try:
        data = yaml.safe_load(Path(args.params).read_text())
        isa = data["suites"][words[0]]["common"].get("cpu_isa")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    return isa if isinstance(isa, str) else None


def _words(step: str, words: list[str]) -> list[str]:
    """The step's positional arguments, their count checked (one line naming the usage)."""
    from snnkd.errors import ConfigError

    want = STEPS[step]
    need = len([w for w in want if not w.startswith("[")])
    if not need <= len(words) <= len(want):
        raise ConfigError(f"pipeline {step}: expected {' '.join(want) or 'no arguments'}")
    return words


def cmd_pipeline(args: argparse.Namespace) -> int:
    from snnkd.errors import ConfigError
    from snnkd.pipeline import stages

    params = Path(args.params)
    words = _words(args.step, list(args.words))
    if args.step == "setup":
        stages.setup(params)
    elif args.step == "data":
        stages.data(words[0], params=params)
    elif args.step == "tune":
        stages.tune(params, *words)
    elif args.step == "network":
        stages.network(params, *words, quiet=not args.progress)
    elif len(words) == 4:
        try:
            seed = int(words[3])
        except ValueError:
            raise ConfigError(f"pipeline method: SEED: expected an integer, got {words[3]!r}") from None
        stages.method(params, *words[:3], seed, quiet=not args.progress)
    else:
        stages.method_seeds(params, *words, quiet=not args.progress, jobs=args.jobs)
    return 0


def cmd_tracking(args: argparse.Namespace) -> int:
    from snnkd.names import check_name
    from snnkd.pipeline.suite import experiment_name
    from snnkd.tracking import store
    from snnkd.tracking.redact import redact

    name = experiment_name(check_name(args.suite, "--suite"))
    uri, exp = store.init_store(name)
    print(f"experiment {name} (id {exp}) in {redact(uri)}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from snnkd.pipeline import suites
    from snnkd.pipeline.suite import suite_dir
    from snnkd.results import leaderboard

    s = suites.load(args.params, args.suite)
    out = Path(args.out) if args.out else suite_dir(s.suite)
    result = leaderboard.build(s, out, log=not args.no_log, from_files=args.from_files)
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
    from snnkd.cli.arguments import positive_int

    su = sub.add_parser(
        "suite", help="the suites of the pipeline (params.yaml): add, remove, use, check, plan"
    )
    su.add_argument("action", choices=["add", "remove", "use", "check", "plan"])
    su.add_argument(
        "name",
        nargs="?",
        help="add: benchmarks/<name>.yaml into params.yaml's suites; remove: a suite of params.yaml; "
        "use: benchmarks/<name>.yaml as the only suite; check, plan: a file (default params.yaml)",
    )
    su.set_defaults(func=cmd_suite)

    pl = sub.add_parser("pipeline", help="one step of dvc.yaml (setup, data, network, tune, method)")
    pl.add_argument("step", choices=list(STEPS))
    pl.add_argument(
        "words",
        nargs="*",
        default=[],
        metavar="ARG",
        help="data: DATASET; network: SUITE DATASET NAME; tune: SUITE DATASET METHOD; "
        "method: SUITE DATASET METHOD [SEED] (default: every seed of the suite)",
    )
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

    lb = sub.add_parser(
        "leaderboard", help="aggregate a suite's MLflow runs into results/<suite>/leaderboard.*"
    )
    lb.add_argument("--params", default=str(PARAMS), help="params.yaml, or one suite's file")
    lb.add_argument("--suite", help="a suite of --params (default: its only one)")
    lb.add_argument("--out", help="folder of the tables, report and plots (default: results/<suite>)")
    lb.add_argument("--no-log", action="store_true", help="do not log the table to MLflow")
    lb.add_argument(
        "--from-files",
        action="store_true",
        help="read the published run files (results/<suite>/runs/...), not MLflow (a clone without a store)",
    )
    lb.set_defaults(func=cmd_leaderboard)


def fit_and_track(args: argparse.Namespace, run, out: Path) -> tuple[dict, Path]:
    """``snnkd train``'s training: ``fit`` then ``write_metrics``, logged to MLflow with ``--track``."""
    from snnkd.evaluation import run_files
    from snnkd.evaluation.evaluate import write_metrics
    from snnkd.tracking import log, provenance
    from snnkd.trainer.checkpoint import file_hash
    from snnkd.trainer.loop import fit

    if not args.track:
        metrics = fit(run, out, resume=args.resume, show_progress=not args.quiet)
        return metrics, write_metrics(out, metrics)
    cfg = run.cfg
    tracker = log.start(cfg, run, suite=args.suite, stage=args.stage, state_dir=out, resume=args.resume)
    with log.track(tracker):
        metrics = fit(run, out, resume=args.resume, show_progress=not args.quiet, on_epoch=tracker.on_epoch)
        path = write_metrics(out, metrics)
        sha = file_hash(out / "checkpoint.pt")
        files = [out / name for name in run_files.FILES if (out / name).is_file()]
        tracker.finish(
            metrics, files, {f"{provenance.TAG}checkpoint_sha256": sha, f"{provenance.TAG}out": str(out)}
        )
    return metrics, path
