"""Tuned against default hyper-parameters, paired by seed: the tuning evidence (``tuning.md``).

The tuned suite (``benchmarks/default.yaml``: every method tuned by the pipeline's ``tune``
stage on the first seed's validation split) and the defaults suite (``benchmarks/evidence.yaml``:
every method at its plugin defaults) share datasets, seeds, student, teachers' budgets and the
students' plateau budgets, so for every method both ran, seed ``s`` of one is paired with seed
``s`` of the other, ``d_s = x_s^tuned − x_s^default``: ``Δ = mean(d)`` of test accuracy (points)
and of spikes per sample (% of the default's mean) with its 95 % t CI, the paired t p
(``scipy.stats.ttest_rel``) Holm-corrected over the methods of a dataset (Holm 1979), and the
Wilcoxon signed-rank p (``scipy.stats.wilcoxon``), all from :mod:`snnkd.results.stats`. The
Wilcoxon column is left out, and the table says so, where no row has the seeds to reach 0.05
(with 5 seeds its smallest two-sided p is 0.0625).

The two suites train their reference networks in stages of their own, so a teacher of one
need not be the other's checkpoint (another CPU kind rounds differently). Each dataset's table
says, from the runs' ``run.json`` (the teacher's sha256), whether the paired runs learned from
the same checkpoints: where they did not, Δ of a method that learns from a teacher contains the
teachers' difference too.

The tuned suite's choices are read from ``<choices>/<dataset>/<method>.yaml`` (the ``tune``
stage's files). Only run files are read: the test split was used once per final run by the suites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from snnkd.errors import ConfigError
from snnkd.evaluation.run_files import RUN_FILE
from snnkd.results import stats as S
from snnkd.tracking.published import read_json
from snnkd.verdicts.runs import Runs

PRODUCER = "snnkd tuning-evidence"
HEADER = [
    "# Tuning evidence: tuned against default hyper-parameters, paired by seed",
    "",
    "Tuned: the default suite (`benchmarks/default.yaml`), each method's hyper-parameters chosen",
    "by the pipeline's `tune` stage (Optuna TPE, the same trial budget for every method, trials",
    "trained to a plateau on the first seed's training split and scored on its validation split,",
    "pruned by the suite's `tune.pruner`: a study named `...-<pruner>` used that pruner, one",
    "without the suffix the median rule). Default: the evidence suite",
    "(`benchmarks/evidence.yaml`), every method at its plugin defaults. Same datasets, seeds,",
    "student, teachers' configurations and plateau budgets, so seed s of one is paired with seed s",
    "of the other (each dataset says whether the teachers are the same checkpoints).",
    "Δ = tuned − default (test accuracy in points, spikes per sample in % of the default's mean)",
    "with its 95 % CI; p: paired t, Holm-corrected over the dataset's methods (* < 0.05), and the",
    "Wilcoxon signed-rank p where the seeds let it reach 0.05.",
    "",
]


def _fmt(x: float, digits: int = 2) -> str:
    return "–" if not np.isfinite(x) else f"{x:+.{digits}f}"


def _p(p: float) -> str:
    return "–" if not np.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _star(p: float) -> str:
    return " *" if np.isfinite(p) and p < S.ALPHA else ""


def chosen(choices: Path | None, dataset: str, method: str) -> str:
    """The hyper-parameters the ``tune`` stage chose for ``method`` on ``dataset``, as a table cell."""
    path = None if choices is None else choices / dataset / f"{method}.yaml"
    if path is None or not path.is_file():
        return "suite's own (nothing to tune)"
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(
            f"--choices: {path}: not a readable YAML file ({str(err).splitlines()[0]})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("hparams") or {}, dict):
        raise ConfigError(f"--choices: {path}: expected a mapping with `hparams:` (the tune stage's file)")
    hp = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in sorted((data.get("hparams") or {}).items())
    )
    return hp if "Not tuned" not in text else f"{hp or '–'} (not tuned)"


def _teacher(folder: Path | None, dataset: str, method: str, seed: int) -> str | None:
    """The sha256 of the teacher a run learned from (``run.json``), None without one or without a file."""
    path = None if folder is None else folder / dataset / method / f"seed{seed}" / RUN_FILE
    if path is None or not path.is_file():
        return None
    teacher = read_json(path).get("teacher")
    return teacher.get("sha256") if isinstance(teacher, dict) else None


def teachers_line(rows: list[dict], folders: tuple[Path, Path] | None, dataset: str) -> str:
    """Whether the paired runs of a dataset learned from the same teacher checkpoints."""
    if folders is None:
        return ""
    same, other = [], []
    for r in rows:
        found = {tuple(_teacher(f, dataset, r["method"], s) for f in folders) for s in r["seeds"]}
        pairs = {p for p in found if p != (None, None)}
        if pairs:
            (same if all(a == b for a, b in pairs) else other).append(r["method"])
    if not same and not other:
        return ""
    parts = []
    if same:
        parts.append(f"{', '.join(same)}: the same teacher checkpoints in both suites")
    if other:
        parts.append(
            f"{', '.join(other)}: **other teacher checkpoints** (same configuration, trained by each suite's "
            "own stage), so their Δ contains the teachers' difference"
        )
    return "Teachers: " + "; ".join(parts) + "."


def _row(
    method: str, tuned: dict[int, dict[str, Any]], default: dict[int, dict[str, Any]], cell: str
) -> dict:
    common = sorted(set(tuned) & set(default))
    acc_t = [tuned[s]["test_accuracy"] for s in common]
    acc_d = [default[s]["test_accuracy"] for s in common]
    spk_t = [tuned[s]["spikes_per_sample"] for s in common]
    spk_d = [default[s]["spikes_per_sample"] for s in common]
    return dict(
        method=method, n=len(common), seeds=common, chosen=cell,
        acc=S.paired(acc_t, acc_d), spk=S.paired(spk_t, spk_d),
        acc_t=np.mean(acc_t), acc_d=np.mean(acc_d), spk_d=float(np.mean(spk_d)),
    )  # fmt: skip


def dataset_table(
    tuned: Runs,
    default: Runs,
    choices: Path | None,
    dataset: str,
    folders: tuple[Path, Path] | None = None,
) -> list[str]:
    """The rows of one dataset's methods that both suites ran (none: no table); ``folders``: the two
    runs folders, to compare the teachers the paired runs learned from."""
    rows = [
        _row(method, seeds, default[(d, method)], chosen(choices, d, method))
        for (d, method), seeds in sorted(tuned.items())
        if d == dataset and (d, method) in default and set(seeds) & set(default[(d, method)])
    ]
    if not rows:
        return []
    holm_acc = S.holm([r["acc"].p_t for r in rows])
    holm_spk = S.holm([r["spk"].p_t for r in rows])
    wilcoxon = any(S.wilcoxon_can_reject(r["n"]) for r in rows)
    notes = [line for line in (teachers_line(rows, folders, dataset),) if line]
    if not wilcoxon:
        n = min(r["n"] for r in rows)
        notes.append(
            f"The Wilcoxon signed-rank test is left out: with {n} seeds its smallest two-sided p is "
            f"{S.min_wilcoxon_p(n):.4g}, so it cannot reach 0.05."
        )
    lines = [
        "",
        f"## {dataset}",
        "",
        *[line for note in notes for line in (note, "")],
        "| method | seeds | tuned hyper-parameters | default acc % | tuned acc % | Δ acc pp [95% CI] "
        f"| p (Holm) |{' p (Wilcoxon) |' if wilcoxon else ''} Δ spikes % [95% CI] | p spikes (Holm) |",
        "|---|---|---|---|---|---|---|" + ("---|" if wilcoxon else "") + "---|---|",
    ]
    for r, pa, ps in zip(rows, holm_acc, holm_spk, strict=True):
        a, k, scale = r["acc"], r["spk"], 100.0 / r["spk_d"] if r["spk_d"] else np.nan
        lines.append(
            f"| {r['method']} | {r['n']} | {r['chosen']} "
            f"| {100 * r['acc_d']:.2f} | {100 * r['acc_t']:.2f} "
            f"| {_fmt(100 * a.diff)} [{_fmt(100 * a.low)}, {_fmt(100 * a.high)}] "
            f"| {_p(pa)}{_star(pa)} |{f' {_p(a.p_wilcoxon)} |' if wilcoxon else ''}"
            f" {_fmt(scale * k.diff, 1)} [{_fmt(scale * k.low, 1)}, {_fmt(scale * k.high, 1)}] "
            f"| {_p(ps)}{_star(ps)} |"
        )
    return lines


def render(
    tuned: Runs,
    default: Runs,
    choices: Path | None,
    sources: tuple[str, str],
    producer: str = PRODUCER,
) -> str:
    """``tuning.md``; ``sources``: the two runs folders (as the provenance line names them, and where
    each run's ``run.json`` names its teacher)."""
    lines = [*HEADER, f"Produced by `{producer}` from `{sources[0]}` and `{sources[1]}`."]
    folders = (Path(sources[0]), Path(sources[1]))
    for dataset in sorted({d for d, _ in tuned}):
        lines += dataset_table(tuned, default, choices, dataset, folders)
    return "\n".join(lines) + "\n"
