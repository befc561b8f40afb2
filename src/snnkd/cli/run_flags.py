"""The run-setting flags shared by ``snnkd train`` and ``snnkd tune``, and the RunConfig they build.

Both commands import this module; the command line (:mod:`snnkd.cli.main`) imports the
commands, never the reverse.
"""

from __future__ import annotations

import argparse
from typing import Any

# flag -> (config path, type)
TRAIN_FLAGS: dict[str, tuple[str, type]] = {
    "dataset": ("dataset", str),
    "model": ("model", str),
    "method": ("method", str),
    "seed": ("seed", int),
    "T": ("T", int),
    "encoder": ("encoder", str),
    "readout": ("readout", str),
    "teacher": ("teacher", str),
    "device": ("device", str),
    "epochs": ("train.epochs", int),
    "batch_size": ("train.batch_size", int),
    "lr": ("train.lr", float),
    "optimizer": ("train.optimizer", str),
    "schedule": ("train.schedule", str),
    "grad_clip": ("train.grad_clip", float),
    "lif_tau": ("neuron.tau", float),  # not --tau: that reads as the KD temperature (--hparam tau=)
    "threshold": ("neuron.v_threshold", float),
    "reset": ("neuron.reset", str),
    "surrogate": ("neuron.surrogate", str),
    "weight_bits": ("quant.weight_bits", int),
    "membrane_bits": ("quant.membrane_bits", int),
}


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """Add ``--config``, one flag per :data:`TRAIN_FLAGS` entry, ``--ann``, ``--hparam``, ``--set``.

    ``--tau`` is refused with what to use instead: it once set the LIF time constant, which
    ``--method kd --tau 4`` silently changed where the KD temperature was meant.
    """
    from snnkd.cli.arguments import Renamed

    p.add_argument("--config", help="YAML file with run settings (flags override it)")
    for flag, (path, typ) in TRAIN_FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=typ, help=path)
    p.add_argument(
        "--tau",
        action=Renamed,
        dest="removed_tau",
        advice="ambiguous, not accepted: the LIF membrane time constant is --lif-tau VALUE "
        "(neuron.tau); a method's temperature is --hparam tau=VALUE",
    )
    p.add_argument("--ann", action="store_true", default=None, help="train the ANN twin")
    p.add_argument(
        "--hparam",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="method hyper-parameter (repeatable)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config field, dotted (repeatable), e.g. train.weight_decay=1e-4",
    )
    p.add_argument("--plugin-dir", action="append", default=[], help="folder of method plugins")


def run_config(args: argparse.Namespace) -> Any:
    """Merge YAML, --set, --hparam and flags into a validated RunConfig."""
    from snnkd.core.config import load_yaml, merge, parse_override, validate

    data: dict[str, Any] = load_yaml(args.config) if args.config else {}
    for item in args.set:
        merge(data, *parse_override(item))
    for item in args.hparam:
        path, value = parse_override(item, "--hparam", "NAME")
        merge(data, ["hparams", *path], value)
    for flag, (path, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            merge(data, path.split("."), value)
    if args.ann:
        data["ann"] = True
    if args.plugin_dir:
        data["plugin_dirs"] = list(data.get("plugin_dirs", [])) + args.plugin_dir
    return validate(data)
