"""Rebuild the evidence suite's tables from its committed run files, with no MLflow store.

    python benchmarks/evidence_tables.py [--out results/evidence]

The evidence suite (``benchmarks/evidence.yaml``) publishes into its own folder,
``results/evidence/`` (``snnkd suite add evidence && dvc repro leaderboard@evidence``), where its
runs and reference networks are committed. This script is ``snnkd leaderboard --params
benchmarks/evidence.yaml --from-files`` (:func:`snnkd.results.leaderboard.build` on those files) followed by
``snnkd claims``' code (:mod:`snnkd.verdicts.claims`, the claims of
``benchmarks/claims/evidence.yaml``), writing the leaderboard, report, NeuroBench table, plots and
``claims.md`` into ``--out``. Runs of the suite that are not there are listed as left out.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = "evidence"


def build(out: Path | None = None) -> Path:
    """Write the evidence suite's tables, from its files under ``results/evidence/``, into ``out``
    (default: that folder); returns ``out``."""
    from snnkd.pipeline import suite
    from snnkd.results import leaderboard

    folder = ROOT / suite.suite_dir(SUITE)
    out = folder if out is None else Path(out).resolve()
    with contextlib.chdir(ROOT):  # the suite's run folders are relative to the checkout
        leaderboard.build(suite.load(Path("benchmarks") / f"{SUITE}.yaml"), out, log=False, from_files=True)
    from snnkd.core.atomic import atomic_text
    from snnkd.verdicts import claims, claims_spec, runs

    spec = claims_spec.load(claims_spec.claims_file(SUITE, ROOT / claims_spec.CLAIMS_DIR))
    margin = suite.load(ROOT / "benchmarks" / f"{spec.suite}.yaml", full=False).margin_pp
    atomic_text(out / "claims.md", claims.render(runs.load(folder), spec, margin))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="folder of the tables (default: results/evidence)")
    args = p.parse_args()
    out = build(args.out)
    print((out / "leaderboard.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
