"""The ``snnkd`` command line. Heavy libraries are imported inside the commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from snnkd.cli.arguments import Parser
from snnkd.cli.outdir import check_out_dir, created_dir
from snnkd.cli.run_flags import add_train_flags, run_config
from snnkd.cli.torch_logs import quiet_torch_logs
from snnkd.errors import ConfigError, SnnkdError
from snnkd.pipeline import command as pipeline_command
from snnkd.processes import terminate_as_interrupt
from snnkd.trainer.threads import pin_isa_environment

#: a checkpoint's method is looked up here, never in the folders it names
PLUGIN_DIR_HELP = "folder of method plugins, for the checkpoint's method (folders it names are never loaded)"


def default_out(cfg: Any) -> Path:
    model = f"{cfg.model}-ann" if cfg.ann else cfg.model
    method = cfg.method.replace(" ", "")
    return Path("runs") / cfg.dataset / model / method / f"seed{cfg.seed}"


def cmd_train(args: argparse.Namespace) -> int:
    from snnkd.evaluation.evaluate import summary
    from snnkd.names import check_name
    from snnkd.pipeline.command import fit_and_track
    from snnkd.trainer.run import prepare

    check_name(args.suite, "--suite")  # a folder name of the run's MLflow artifacts
    cfg = run_config(args)
    out = Path(args.out) if args.out else default_out(cfg)
    check_out_dir(out, "--out")
    if (out / "metrics.json").exists() and not args.resume and not args.force:
        raise ConfigError(f"--out: {out} already holds a finished run; use --force or --resume")
    run = prepare(cfg)  # every check happens here, before anything is written
    if args.track:  # the store opens, before any training (one line, password masked, if not)
        from snnkd.tracking import store
        from snnkd.tracking.experiments import experiment_name

        store.check_store(experiment_name(args.suite))
    with created_dir(out):
        metrics, path = fit_and_track(args, run, out)
    print(summary(metrics))
    print(f"wrote {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from snnkd.evaluation.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint, split=args.split, device=args.device, plugin_dirs=args.plugin_dir
    )
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from snnkd.cli import listing

    print(listing.render(args.what, plugin_dirs=args.plugin_dir))
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from snnkd.data.staging import cmd_stage as stage

    return stage(args)


def cmd_export(args: argparse.Namespace) -> int:
    import nir

    from snnkd.nir.export import export_checkpoint
    from snnkd.nir.simulators import limits

    out = export_checkpoint(args.checkpoint, args.format, args.out, args.plugin_dir)
    print(f"wrote {out}")
    for framework, limit in limits(nir.read(out)).items():
        if limit is not None:  # the file is written; this framework's importer will not read it
            print(f"snnkd: note: {framework} cannot import {out}: {limit}", file=sys.stderr)
    return 0


def refuse_unscheduled_stage() -> None:
    """Under ``snnkd scale`` only the stage a task was given may execute (``SNNKD_SCALE_RUNS``).

    DVC names the stage it runs in ``DVC_STAGE``; any other stage (an upstream stage missing from
    the run cache, or any stage in the driver's final ``dvc repro``) refuses to start.
    """
    import os

    allowed, stage = os.environ.get("SNNKD_SCALE_RUNS"), os.environ.get("DVC_STAGE")
    if allowed is not None and stage and stage != allowed:
        raise SnnkdError(
            f"snnkd scale: stage {stage} would execute here, but it was not restored from the run cache"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="snnkd",
        description="Benchmark knowledge distillation, activity regularisation and "
        "quantization of spiking neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one network (any method)")
    add_train_flags(train)
    train.add_argument("--out", help="output folder (default runs/<dataset>/<model>/<method>/seed<S>)")
    train.add_argument("--resume", action="store_true", help="continue from the folder's checkpoint")
    train.add_argument("--force", action="store_true", help="overwrite a finished run")
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    pipeline_command.add_train_tracking(train)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint")
    ev.add_argument("checkpoint")
    ev.add_argument("--split", choices=["val", "test"], default="test")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.add_argument("--plugin-dir", action="append", default=[], help=PLUGIN_DIR_HELP)
    ev.set_defaults(func=cmd_eval)

    ls = sub.add_parser("list", help="list datasets, models, methods or loss terms")
    ls.add_argument("what", choices=["datasets", "models", "methods", "terms"])
    ls.add_argument("--plugin-dir", action="append", default=[])
    ls.set_defaults(func=cmd_list)

    st = sub.add_parser("stage", help="verify (or download) datasets' archives and prepare tensors")
    st.add_argument("datasets", nargs="+", metavar="DATASET")
    st.add_argument("--data-dir", default="data", help="folder holding raw/ and prepared/")
    st.add_argument("--offline", action="store_true", help="never download; an absent archive is an error")
    st.add_argument("--force", action="store_true", help="prepare again even if tensors exist")
    st.set_defaults(func=cmd_stage)

    ex = sub.add_parser("export", help="write a checkpoint's network for another toolchain (NIR)")
    ex.add_argument("checkpoint")
    ex.add_argument("--format", default="nir", help="nir (needs the [nir] extra)")
    ex.add_argument("--out", required=True, help="file to write, e.g. student.nir")
    ex.add_argument("--plugin-dir", action="append", default=[], help=PLUGIN_DIR_HELP)
    ex.set_defaults(func=cmd_export)

    from snnkd.tune.command import add_parser as add_tune_parser

    add_tune_parser(sub)
    pipeline_command.register(sub)
    from snnkd.scale.command import add_parser as add_scale_parser

    add_scale_parser(sub)
    from snnkd.verdicts.command import register as add_verdict_parsers

    add_verdict_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_torch_logs()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # a bad argument is a ConfigError too (snnkd.cli.arguments)
        # before anything starts torch (parsing does not): it reads the ISA once
        pin_isa_environment(pipeline_command.suite_isa(args))
        terminate_as_interrupt()  # SIGTERM is SIGINT: `interrupted`, exit 130, the MLflow run KILLED
        refuse_unscheduled_stage()
        return args.func(args)
    except SnnkdError as err:
        print(f"snnkd: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("snnkd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
