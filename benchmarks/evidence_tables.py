"""Rebuild the evidence suite's tables from its committed run files, with no MLflow store.

    python benchmarks/evidence_tables.py [--evidence results/evidence]

The evidence suite (``benchmarks/evidence.yaml``) runs in a separate checkout; its published
runs are copied to ``<evidence>/runs/<dataset>/<method>/seed<k>/`` and its reference networks'
``metrics.json`` and ``run.json`` to ``<evidence>/networks/<dataset>/<name>/``. This script lays
those folders out where the pipeline publishes them (``results/runs``, ``results/networks``) in
a scratch folder, builds the leaderboard there with ``snnkd leaderboard --from-files``'s code
(:func:`snnkd.leaderboard.build`), and copies the leaderboard, report, NeuroBench table and
plots into ``<evidence>``; then it writes ``<evidence>/claims.md`` with ``snnkd claims``' code
(:mod:`snnkd.verdicts.claims`, the claims of ``benchmarks/claims/evidence.yaml``).
Runs of the suite that are not there are listed as left out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = (
    "leaderboard.md", "leaderboard.csv", "report.html", "neurobench.csv", "pareto.png", "firing_rates.png",
)  # fmt: skip


def build(evidence: Path, out: Path | None = None) -> None:
    """Write the tables of the runs under ``evidence`` into ``out`` (default: ``evidence``)."""
    out = evidence if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    from snnkd import leaderboard, plan, suite

    with tempfile.TemporaryDirectory(prefix="snnkd-evidence-") as tmp:
        work = Path(tmp)
        (work / "results").mkdir()
        (work / "results" / "runs").symlink_to(evidence / "runs")
        if (evidence / "networks").is_dir():
            (work / "results" / "networks").symlink_to(evidence / "networks")
        params = plan.use("evidence", benchmarks=ROOT / "benchmarks", target=work / "params.yaml")
        here = Path.cwd()
        os.chdir(work)
        try:
            leaderboard.build(suite.load(params), Path("out"), log=False, from_files=True)
        finally:
            os.chdir(here)
        for name in OUTPUTS:
            shutil.copyfile(work / "out" / name, out / name)
    from snnkd.atomic import atomic_text
    from snnkd.verdicts import claims, claims_spec, runs

    spec = claims_spec.load(claims_spec.claims_file("evidence", ROOT / claims_spec.CLAIMS_DIR))
    margin = suite.load(ROOT / "benchmarks" / f"{spec.suite}.yaml", full=False).margin_pp
    atomic_text(out / "claims.md", claims.render(runs.load(evidence), spec, margin))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evidence", type=Path, default=ROOT / "results" / "evidence")
    args = p.parse_args()
    if not (args.evidence / "runs").is_dir():
        print(f"evidence_tables: error: --evidence: no folder {args.evidence / 'runs'}", file=sys.stderr)
        return 2
    build(args.evidence.resolve())
    print((args.evidence / "leaderboard.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
