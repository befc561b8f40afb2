"""The coordinator of a study: check, create or join it, run workers, write the result.

Running the same command (same ``--storage`` and ``--study``) on several
machines joins one study: each coordinator starts its workers, all of them
draw trials from the shared storage until the study holds ``--trials``
finished trials, and each coordinator then writes the same result files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snnkd.errors import ConfigError, SnnkdError
from snnkd.tune import mlruns
from snnkd.tune.pareto import Point, choose, front, plot
from snnkd.tune.space import search_space
from snnkd.tune.spec import OBJECTIVES, TuneSpec, slug
from snnkd.tune.storage import mask, open_storage, published, scrub

FINGERPRINT_ATTR = "snnkd_fingerprint"


@dataclass
class StudyResult:
    """What a finished study produced."""

    study: str
    params: dict[str, Any]
    values: dict[str, float]
    trial: int
    counts: dict[str, int]
    files: list[Path] = field(default_factory=list)


def check(spec: TuneSpec) -> None:
    """Every check that can fail on bad input, before any study or file is created."""
    from snnkd.cli.outdir import check_out_dir
    from snnkd.core.config import validate
    from snnkd.trainer.run import prepare

    cfg = validate(spec.base)
    check_out_dir(spec.results_dir, "--results-dir")
    search_space(cfg.method, cfg.hparams, cfg.plugin_dirs)
    prepare(cfg)  # teacher present and compatible, dataset staged, method known


def create_or_join(spec: TuneSpec) -> Any:
    """The study named ``spec.study`` in ``spec.storage``, created if absent."""
    return open_study(spec)[0]


def open_study(spec: TuneSpec) -> tuple[Any, bool]:
    """The study named ``spec.study`` (created if absent) and whether this call created it.

    Creating a study is atomic in every Optuna storage, so exactly one of several
    commands starting at once is its creator; with MLflow logging the creator marks
    the study's parent run as pending (:mod:`snnkd.tune.mlruns`) before anything else.
    """
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(spec.storage, spec.heartbeat_interval, spec.grace_period, spec.max_retry)
    try:
        study = optuna.create_study(
            storage=storage, study_name=spec.study, directions=spec.directions, load_if_exists=False
        )
        created = True
    except DuplicatedStudyError:
        study = optuna.load_study(study_name=spec.study, storage=storage)
        created = False
    if created and spec.mlflow:
        study.set_user_attr(mlruns.PENDING_ATTR, True)
    mine = spec.fingerprint()
    theirs = study.user_attrs.get(FINGERPRINT_ATTR)
    if theirs is None:
        study.set_user_attr(FINGERPRINT_ATTR, mine)
        study.set_user_attr("method", spec.method)
        study.set_user_attr("dataset", spec.dataset)
        study.set_user_attr("objectives", list(spec.objectives))
        with warnings.catch_warnings():  # experimental in Optuna 5; names the axes in optuna-dashboard
            warnings.simplefilter("ignore")
            study.set_metric_names(spec.metrics)
    elif theirs != mine:
        raise ConfigError(
            f"--study: '{spec.study}' in {mask(spec.storage)} was created with other settings "
            "(method, dataset, objectives, epochs or seed); choose another --study name"
        )
    return study, created


def run_workers(spec: TuneSpec) -> None:
    """``spec.workers`` worker processes (or this process for one), until the budget is met."""
    from snnkd.tune.worker import work

    if spec.workers == 1:
        work(spec, 0)
        return
    payload = spec.model_dump_json()
    procs = []
    for i in range(spec.workers):
        cmd = [sys.executable, "-m", "snnkd.tune.worker", str(i), str(os.getpid())]  # dies with us
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        p.stdin.write(payload.encode())
        p.stdin.close()
        procs.append(p)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    for i, code in enumerate(codes):
        if code != 0:
            print(f"snnkd: warning: worker {i} (pid {procs[i].pid}) exited with {code}", file=sys.stderr)


def _points(study: Any, spec: TuneSpec) -> list[Point]:
    from optuna.trial import TrialState

    pts = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        acc, act = (t.values + [float("nan")])[:2] if spec.multi else (t.value, float("nan"))
        pts.append(Point(t.number, float(acc), float(act), dict(t.params)))
    return pts


def state_counts(study: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        key = "surplus" if t.user_attrs.get("surplus") else t.state.name.lower()
        out[key] = out.get(key, 0) + 1
    return out


def summarize(study: Any, spec: TuneSpec) -> StudyResult:
    """Pick the result (best trial, or the Pareto choice) and write the result files."""
    pts = _points(study, spec)
    counts = state_counts(study)
    finished = counts.get("complete", 0) + counts.get("pruned", 0)
    if finished < spec.trials:
        raise SnnkdError(
            f"study {spec.study}: only {finished} of {spec.trials} trials finished ({counts}); "
            "run the same command again to continue"
        )
    if not pts:
        raise SnnkdError(f"study {spec.study}: no trial completed ({counts})")
    chosen = choose(pts) if spec.multi else best(pts, order_free=bool(spec.seeds))
    trial = study.trials[chosen.number]
    values = {k: float(v) for k, v in trial.user_attrs.items() if k.startswith("val_")}
    res_dir = Path(spec.results_dir)
    name = slug(spec.method)
    warning = chance_warning(spec, chosen.accuracy)
    if warning:
        print(f"snnkd: warning: study {spec.study}: {warning}", file=sys.stderr)
    tuned = res_dir / "tuned" / spec.dataset / f"{name}.yaml"
    files = [write_tuned(spec, chosen, values, tuned, warning)]
    summary = {
        "study": spec.study,
        "storage": published(spec.storage),
        "method": spec.method,
        "dataset": spec.dataset,
        "objectives": list(spec.objectives),
        "budget": {"trials": spec.trials, "epochs": spec.base.get("train", {}).get("epochs")},
        "seed": spec.base.get("seed", 0),
        **({"seeds": list(spec.seeds)} if spec.seeds else {}),
        "selection": selection_rule(spec),
        "chosen": {"trial": chosen.number, "params": chosen.params, "values": values},
        "counts": counts,
        "trials": [_trial_row(t) for t in study.get_trials(deepcopy=False)],
    }
    if spec.multi:
        summary["front"] = [p.__dict__ for p in front(pts)]
        label = {"spikes": "spikes per sample (val)", "energy": "energy per inference (pJ, val)"}[
            spec.objectives[1]
        ]
        png = res_dir / "tuning" / spec.dataset / f"{name}-pareto.png"
        title = f"{spec.method} on {spec.dataset}: {len(pts)} trials"
        files.append(plot(pts, chosen, png, title, label))
    js = res_dir / "tuning" / spec.dataset / f"{name}-study.json"
    js.parent.mkdir(parents=True, exist_ok=True)
    js.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    files.append(js)
    return StudyResult(spec.study, chosen.params, values, chosen.number, counts, files)


def best(pts: list[Point], order_free: bool = False) -> Point:
    """The most accurate point; a tie goes to the earliest trial, or with ``order_free`` (a study
    over several seeds) to the smallest hyper-parameter values, so that the trial order never decides."""
    if order_free:
        return min(pts, key=lambda p: (-p.accuracy, sorted(p.params.items())))
    return max(pts, key=lambda p: (p.accuracy, -p.number))


def selection_rule(spec: TuneSpec) -> str:
    if not spec.multi:
        if spec.seeds:
            seeds = ", ".join(map(str, spec.seeds))
            return f"highest mean validation accuracy over seeds {seeds} (ties: smallest values)"
        return "highest validation accuracy"
    return (
        f"lowest validation {OBJECTIVES[spec.objectives[1]][0][4:]} among Pareto-optimal trials "
        "within 0.5 points of the front's best validation accuracy"
    )


def _trial_row(t: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name,
        "params": t.params,
        "values": t.values,
        "retry_of": t.system_attrs.get("failed_trial"),
    }


def chance_warning(spec: TuneSpec, accuracy: float, alpha: float = 0.01) -> str | None:
    """A warning when the chosen validation accuracy is not significantly above chance.

    Chance is ``1 / classes``; the one-sided exact binomial test (``scipy.stats.binomtest``)
    of ``round(accuracy * n_val)`` correct answers out of ``n_val`` decides at level ``alpha``.
    """
    from scipy.stats import binomtest

    from snnkd.data import load_splits

    data = load_splits(spec.dataset, spec.base.get("data_dir", "data"))
    n, classes = len(data.val), data.info.num_classes
    correct = round(accuracy * n)
    if binomtest(correct, n, 1.0 / classes, alternative="greater").pvalue < alpha:
        return None
    return (
        f"the best validation accuracy {accuracy:.4f} is at chance level (1/{classes} = {1 / classes:.4f}, "
        f"{n} samples); the tuned values are no better than a guess: check the epochs, lr and search space"
    )


def write_tuned(
    spec: TuneSpec, chosen: Point, values: dict[str, float], path: Path, warning: str | None = None
) -> Path:
    """The tuned settings as a partial run config (``snnkd train --config`` reads it)."""
    fixed = dict(spec.base.get("hparams", {}))
    seed = spec.base.get("seed", 0)
    over = f"mean over seeds {', '.join(map(str, spec.seeds))}" if spec.seeds else f"seed {seed}"
    header = (
        f"# Tuned by `snnkd tune`: study {spec.study}, {spec.trials} trials x "
        f"{spec.base.get('train', {}).get('epochs')} epochs, {over},\n"
        f"# objectives {','.join(spec.objectives)}; chosen trial {chosen.number} by {selection_rule(spec)}.\n"
        + "".join(f"# {k}: {v:.6g}\n" for k, v in sorted(values.items()))
        + (f"# WARNING: {warning}\n" if warning else "")
    )
    body = {"dataset": spec.dataset, "method": spec.method, "hparams": {**fixed, **chosen.params}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(body, sort_keys=True))
    return path


def run(spec: TuneSpec, quiet: bool = False) -> StudyResult:
    """Check, create or join the study, run its workers, then write and log its result."""
    check(spec)
    study, created = open_study(spec)
    parent = mlruns.ensure_parent(spec, study, owner=created) if spec.mlflow else None
    before = state_counts(study)
    done = before.get("complete", 0) + before.get("pruned", 0)
    if not quiet:
        print(
            f"study {spec.study} in {mask(spec.storage)}: {done} of {spec.trials} trials finished; "
            f"{spec.workers} worker(s)",
            file=sys.stderr,
        )
    run_workers(spec)
    result = summarize(study, spec)
    if parent:
        mlruns.log_best(
            parent,
            result.values,
            result.params,
            {"snnkd.best_trial": str(result.trial), "snnkd.selection": selection_rule(spec)},
        )
    return result


def describe(result: StudyResult, spec: TuneSpec) -> str:
    """A short human summary of a finished study (never holding a password)."""
    vals = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.values.items()))
    params = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.params.items()
    )
    lines = [
        f"study {result.study}: {result.counts}",
        f"chosen trial {result.trial}: {params} ({vals})",
        *(f"wrote {f}" for f in result.files),
    ]
    return scrub("\n".join(lines), spec.storage)
