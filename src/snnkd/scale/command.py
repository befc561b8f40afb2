"""``snnkd scale [--address ADDR] [--cpus N] [targets...]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from snnkd.errors import ConfigError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "scale",
        help="run the stale stages of dvc repro as Ray tasks (local or multi-node; needs the [ray] extra)",
        description="Run every stale stage of the pipeline (or those the targets need) as Ray tasks "
        "in dependency order, their seeds and trials as tasks too; DVC's run cache carries the results "
        "back and a final dvc repro, which executes nothing, restores them (docs/scale.md).",
    )
    p.add_argument(
        "targets",
        nargs="*",
        help="stages (as dvc names them, e.g. method@default-digits-kd, leaderboard@smoke)",
    )
    p.add_argument("--address", help="a running Ray cluster (ray start --head); default: a local one")
    p.add_argument("--cpus", type=int, help="CPUs of the local cluster (default: this machine's)")
    p.set_defaults(func=cmd_scale)
    return p


def cmd_scale(args: argparse.Namespace) -> int:
    from snnkd.scale import driver

    if args.cpus is not None and args.cpus < 1:
        raise ConfigError(f"--cpus: must be at least 1, got {args.cpus}")
    if args.cpus is not None and args.address:
        raise ConfigError("--cpus: only for a local cluster; a cluster at --address has its own CPUs")
    report = driver.run(Path("."), args.targets, args.address, args.cpus)
    ran = sum(r.executed for r in report.ran)
    print(
        f"snnkd scale: {len(report.ran)} stages ({ran} executed) in {report.wall_s:.1f} s; dvc status clean"
    )
    return 0
