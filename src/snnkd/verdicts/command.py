"""The ``claims``, ``tuning-evidence`` and ``quant-evidence`` sub-commands: a suite's results folder in,
its verdict tables out. Every input is read and checked before a file is written; a bad one
(a missing folder, no run, a damaged run file, a bad claims file) is one line with exit code 2.

    snnkd claims --results results/evidence [--claims benchmarks/claims/evidence.yaml]
                 [--out results/evidence/claims.md] [--margin-pp 0.5]
    snnkd tuning-evidence --tuned results/default --default results/evidence
                 [--choices results/default/tuned] [--out results/default/tuning.md]
    snnkd quant-evidence --results results/quant-evidence [--out results/quant-evidence]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnkd.errors import ConfigError

BENCHMARKS = Path("benchmarks")


def _write(path: Path, text: str, flag: str = "--out") -> Path:
    from snnkd.core.atomic import atomic_text

    if path.is_dir():
        raise ConfigError(f"{flag}: {path} is a folder; expected a file")
    try:
        atomic_text(path, text)
    except OSError as err:
        raise ConfigError(
            f"{flag}: cannot write {path} ({err.strerror or err}); nothing was written"
        ) from None
    return path


def _margin(args: argparse.Namespace, suite_name: str) -> float:
    """``--margin-pp``, else the suite's ``margin_pp`` (``benchmarks/<suite>.yaml``)."""
    import math

    if args.margin_pp is not None:
        if not (math.isfinite(args.margin_pp) and args.margin_pp > 0):
            raise ConfigError(f"--margin-pp: must be > 0, got {args.margin_pp}")
        return args.margin_pp
    from snnkd.pipeline import suite

    source = BENCHMARKS / f"{suite_name}.yaml"
    if not source.is_file():
        raise ConfigError(f"--margin-pp: not given, and no {source} to read the suite's margin_pp from")
    return suite.load(source, full=False).margin_pp


def cmd_claims(args: argparse.Namespace) -> int:
    from snnkd.verdicts import claims, claims_spec, runs

    results = Path(args.results)
    found = runs.load(results)
    spec = claims_spec.load(Path(args.claims) if args.claims else claims_spec.claims_file(results.name))
    text = claims.render(found, spec, _margin(args, spec.suite))
    print(f"wrote {_write(Path(args.out) if args.out else results / 'claims.md', text)}")
    return 0


def cmd_tuning(args: argparse.Namespace) -> int:
    from snnkd.verdicts import runs, tuning

    tuned_dir, default_dir = Path(args.tuned), Path(args.default)
    tuned, default = runs.load(tuned_dir, "--tuned"), runs.load(default_dir, "--default")
    choices = Path(args.choices) if args.choices else tuned_dir / "tuned"
    if args.choices and not choices.is_dir():
        raise ConfigError(f"--choices: no folder {choices}")
    sources = (runs.runs_folder(tuned_dir).as_posix(), runs.runs_folder(default_dir).as_posix())
    text = tuning.render(tuned, default, choices if choices.is_dir() else None, sources)
    print(f"wrote {_write(Path(args.out) if args.out else tuned_dir / 'tuning.md', text)}")
    return 0


def cmd_quant(args: argparse.Namespace) -> int:
    from snnkd.results import file_set
    from snnkd.verdicts import quant, runs

    results = Path(args.results)
    found = runs.load(results, with_record=True)
    if not quant.rows(found):
        names = ", ".join((quant.FP_METHOD, *quant.QUANTIZED))
        raise ConfigError(f"--results: no run of {names} in {runs.runs_folder(results)}")
    table, text = quant.render(found, results.as_posix())
    out = Path(args.out) if args.out else results
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; expected a folder")
    with file_set.staged(out) as stage:
        (stage / "quant.csv").write_text(table)
        (stage / "quant.md").write_text(text)
    print(f"wrote {out / 'quant.csv'} and {out / 'quant.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the three sub-commands to ``snnkd``'s parser."""
    cl = sub.add_parser(
        "claims", help="check a suite's claims on its runs with paired statistics (claims.md)"
    )
    cl.add_argument("--results", required=True, help="the suite's results folder (holding runs/)")
    cl.add_argument("--claims", help="claims file (default benchmarks/claims/<results folder name>.yaml)")
    cl.add_argument("--out", help="file to write (default <results>/claims.md)")
    cl.add_argument(
        "--margin-pp", type=float, help="accuracy margin δ in pp (default: the suite's margin_pp)"
    )
    cl.set_defaults(func=cmd_claims)

    tu = sub.add_parser("tuning-evidence", help="tuned against default hyper-parameters, paired by seed")
    tu.add_argument("--tuned", required=True, help="the tuned suite's results folder (holding runs/)")
    tu.add_argument("--default", required=True, help="the defaults suite's results folder (holding runs/)")
    tu.add_argument("--choices", help="the tune stage's choices (default <tuned>/tuned)")
    tu.add_argument("--out", help="file to write (default <tuned>/tuning.md)")
    tu.set_defaults(func=cmd_tuning)

    qu = sub.add_parser("quant-evidence", help="quantized students and MD-SNN from a suite's runs (quant.md)")
    qu.add_argument("--results", required=True, help="the suite's results folder (holding runs/)")
    qu.add_argument("--out", help="folder of quant.csv and quant.md (default <results>)")
    qu.set_defaults(func=cmd_quant)
