"""The commands ``dvc.yaml`` stages run: setup, data, reference networks, method runs.

Each training stage names its suite (``snnkd pipeline method <suite> <dataset> <method>``), reads
that suite's settings from ``params.yaml`` (:func:`snnkd.pipeline.suites.load`) and publishes under
``results/<suite>/``.

A training stage never leaves a half-written output where DVC looks: it trains
in ``runs/work/<run key>/`` (checkpointed every epoch, resumed when the stage
is run again after an interruption), logs to MLflow, and only then moves
``checkpoint.pt``, ``curve.csv`` and, last, ``metrics.json`` into the stage's
output folder (``run.json`` beside ``metrics.json``, see :mod:`snnkd.evaluation.run_files`).
The run key hashes the resolved configuration and the teacher
checkpoint's content, so a changed parameter or teacher never resumes a stale
run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from snnkd.core.atomic import atomic_text
from snnkd.evaluation import run_files
from snnkd.pipeline.suite import (
    Suite,
    folder_of,
    network_dir,
    networks_dir,
    run_checkpoint,
    run_dir,
    split_network,
    suite_dir,
)
from snnkd.pipeline.suites import load, load_all
from snnkd.processes import terminate_as_interrupt

WORK_DIR = Path("runs/work")
CHECKED_FILE = Path("results/checked.json")
#: what setup writes once params.yaml has passed its checks: the same bytes whatever the suites, so
#: that adding a suite (which re-runs setup) leaves every other suite's stages up to date
CHECKED = {"checked": "params.yaml", "by": "snnkd pipeline setup"}


def setup(params: Path) -> Path:
    """Check every suite and the plan, create the MLflow store and each suite's experiment, write
    ``results/checked.json``, the file every other stage depends on.

    ``results/<suite>/networks/`` is created too: the leaderboard stage depends on it, also in a
    suite whose methods learn from no reference network (a sweep of regularisers).
    """
    from snnkd.pipeline import plan
    from snnkd.tracking import store
    from snnkd.tracking.redact import redact

    suites = plan.load_checked(params)  # the same check as `snnkd suite check`
    for folder in setup_folders(suites):
        Path(folder).mkdir(parents=True, exist_ok=True)
    for suite in suites.values():
        uri, _ = store.init_store(suite.experiment())
        print(f"suite {suite.suite}: experiment {suite.experiment()} in {redact(uri)}")
    atomic_text(CHECKED_FILE, json.dumps(CHECKED, indent=2) + "\n")
    return CHECKED_FILE


def setup_folders(suites: Mapping[str, Suite]) -> tuple[str, ...]:
    """The folders :func:`setup` makes, relative to the repository: each suite's
    ``results/<suite>/networks/`` (git does not keep them while they are empty, so ``snnkd scale``
    makes them in each workspace and in its own checkout too)."""
    return tuple(str(networks_dir(suite.suite)) for suite in suites.values())


def data(dataset: str, root: Path = Path("data/prepared"), params: Path | None = None) -> Path:
    """Load (staging if needed) a dataset's splits and write their sizes and SHA-256 to ``splits.json``.

    A dataset read from a folder is first staged again from the suite's folder (``params``' ``sources``)
    when a file there changed (:func:`snnkd.data.folders.stage` compares fingerprints).
    """
    from snnkd.data import load_splits
    from snnkd.data.folders import FOLDERS, stage

    if dataset in FOLDERS:
        suites = load_all(params, full=False).values() if params and params.is_file() else []
        folders = [
            folder_of(s, dataset) for s in suites if dataset in s.datasets
        ]  # one (snnkd.pipeline.plan)
        stage(dataset, "data", folders[0] if folders else None)
    splits = load_splits(dataset, "data")
    summary: dict[str, Any] = {"dataset": dataset, "input_shape": list(splits.info.input_shape)}
    for name in ("train", "val", "test"):
        split = getattr(splits, name)
        h = hashlib.sha256()
        for t in (split.x, split.y):
            h.update(t.contiguous().numpy().tobytes())
        summary[name] = {"samples": len(split), "sha256": h.hexdigest()}
    out = root / dataset / "splits.json"
    atomic_text(out, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(
        f"{dataset}: {summary['train']['samples']}/{summary['val']['samples']}/{summary['test']['samples']}"
    )
    return out


def train(
    suite: Suite,
    config: dict[str, Any],
    out: Path,
    role: str,
    quiet: bool = True,
    checkpoint: Path | None = None,
    variant: str | None = None,
) -> Path:
    """Train one run resumably, track it, then publish its outputs into ``out``.

    The checkpoint goes to ``checkpoint`` (default ``out/checkpoint.pt``). A sweep ``variant``
    is tagged with its name and trains in a work folder of its own (its config may equal its
    method's).
    """
    from snnkd.core.config import validate
    from snnkd.evaluation.evaluate import summary, write_metrics
    from snnkd.tracking import log, provenance, store
    from snnkd.trainer.loop import fit
    from snnkd.trainer.run import prepare

    terminate_as_interrupt()  # a killed stage is marked KILLED, not left RUNNING
    cfg = validate(config)
    run = prepare(cfg)
    store.check_store(suite.experiment())  # before any training: one line if the store is unusable
    key = provenance.run_key(cfg.identity(), run.teacher.digest if run.teacher else None)
    work = WORK_DIR / (key if variant is None else f"{key}.{variant}")
    work.mkdir(parents=True, exist_ok=True)
    tracker = log.start(
        cfg, run, suite=suite.suite, stage=None, state_dir=work, resume=True, role=role, variant=variant
    )
    with log.track(tracker):
        metrics = fit(run, work, resume=True, show_progress=not quiet, on_epoch=tracker.on_epoch)
        write_metrics(work, metrics)
        atomic_text(work / "config.yaml", yaml.safe_dump(cfg.model_dump(), sort_keys=True))
        sha = _sha256(work / "checkpoint.pt")
        tracker.finish(
            metrics,
            [work / name for name in run_files.FILES] + [work / "config.yaml"],
            {f"{provenance.TAG}checkpoint_sha256": sha, f"{provenance.TAG}out": str(out)},
        )
    publish(work, out, checkpoint or out / "checkpoint.pt")
    print(summary(metrics))
    print(f"wrote {out / 'metrics.json'} (mlflow: {tracker.seconds:.3f} s on the training thread)")
    return out


def publish(work: Path, out: Path, checkpoint: Path) -> None:
    """Move a finished run's checkpoint to ``checkpoint`` and its files into ``out`` (``metrics.json``
    last), then drop the work folder."""
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    os.replace(work / "checkpoint.pt", checkpoint)
    for name in run_files.FILES:
        os.replace(work / name, out / name)
    shutil.rmtree(work, ignore_errors=True)


def _sha256(path: Path) -> str:
    from snnkd.trainer.checkpoint import file_hash

    return file_hash(path)


def stage_folder(suite: Suite, dataset: str) -> None:
    """Prepare a folder dataset's tensors from the suite's folder (``sources``) before training.

    A training stage depends on ``splits.json`` only; where the tensors are absent (a fresh
    ``snnkd scale`` workspace), loading would look for the folder in ``data/raw`` and the
    environment, not in the suite's ``sources``. Preparing is deterministic (pinned kernels, a
    fixed thread count), so the tensors are the bytes ``splits.json`` records; with tensors
    made from the same files already there it only fingerprints the folder.
    """
    from snnkd.data.folders import FOLDERS, stage

    if dataset in FOLDERS:
        stage(dataset, "data", folder_of(suite, dataset))


def network(params: Path, suite_name: str, dataset: str, name: str, quiet: bool = True) -> Path:
    """Stage ``network@<suite>-<dataset>-<name>``: a reference network (teacher, spiking teacher,
    assistant) under ``results/<suite>/networks/<dataset>/<name>/``; one of a network's several
    seeds, ``<name>/seed<s>``, under its ``seed<s>/`` (its stage keyed ``<name>-seed<s>``)."""
    suite = load(params, suite_name)
    suite.require(dataset, network=name, source=str(params))
    stage_folder(suite, dataset)
    folder = network_dir(suite.suite, dataset, name)
    return train(suite, suite.network_config(dataset, name), folder, split_network(name)[0], quiet)


def method(params: Path, suite_name: str, dataset: str, name: str, seed: int, quiet: bool = True) -> Path:
    """One seed of a method run: ``results/<suite>/runs/<dataset>/<method>/seed<k>/`` and its
    checkpoint."""
    suite = load(params, suite_name)
    suite.require(dataset, method=name, seed=seed, source=str(params))
    return _method_seed(suite, dataset, name, seed, quiet)


def _method_seed(suite: Suite, dataset: str, name: str, seed: int, quiet: bool = True) -> Path:
    return train(
        suite,
        suite.method_config(dataset, name, seed),
        run_dir(suite.suite, dataset, name, seed),
        "method",
        quiet,
        checkpoint=run_checkpoint(suite.suite, dataset, name, seed),
        variant=name if name != suite.method_of(name) else None,  # a sweep point or an alias: its name
    )


def method_seeds(
    params: Path, suite_name: str, dataset: str, name: str, quiet: bool = True, jobs: int | None = None
) -> None:
    """Stage ``method@<suite>-<dataset>-<method>``: every seed of the suite, ``jobs`` at a time.

    One process pays for the imports once; seeds run as jobs of :mod:`snnkd.pipeline.tasks`: processes
    forked from this one (which die with it), or Ray tasks of one CPU thread each under
    ``snnkd scale``. Each computes with the run's own thread count (1 by default), so that
    ``jobs`` seeds use ``jobs`` cores without oversubscribing them and the numbers do not depend
    on how many run at once. Each seed resumes and publishes on its own.
    """
    from snnkd.pipeline import tasks
    from snnkd.trainer.threads import limit, usable_cores

    suite = load(params, suite_name)
    suite.require(dataset, method=name, source=str(params))
    stage_folder(suite, dataset)  # before the workers start: they find the tensors prepared
    limit(1)  # before forking: the workers inherit a parent that never started a thread pool
    terminate_as_interrupt()  # a killed stage stops its workers first
    workers = max(1, min(jobs or suite.jobs, len(suite.seeds), usable_cores()))
    if workers == 1 and tasks.backend() == "local":
        for seed in suite.seeds:
            _method_seed(suite, dataset, name, seed, quiet)
        return
    first = suite.method_config(dataset, name, suite.seeds[0])
    seed_jobs = [(suite, dataset, name, seed, quiet) for seed in suite.seeds]
    gpus = 1 if str(first.get("device", "cpu")).startswith("cuda") else 0
    tasks.values(tasks.run(_method_seed, seed_jobs, workers, cpus=int(first.get("threads", 1)), gpus=gpus))


def tune(params: Path, suite_name: str, dataset: str, name: str) -> Path:
    """Stage ``tune@<suite>-<dataset>-<method>``: ``results/<suite>/tuned/<dataset>/<method>.yaml``.

    An Optuna study with the suite's ``tune`` budget on the first seed's run config (validation
    split only; with ``tune.seeds`` k > 1 the mean over the first k seeds); the suite's values
    when the budget is 0 or nothing is tunable. A sweep variant is never tuned: its file holds
    its fixed point.
    """
    from snnkd.tune.stage import tune_stage, tuned_path, write_untuned

    suite = load(params, suite_name)
    suite.require(dataset, method=name, source=str(params))
    stage_folder(suite, dataset)
    base = suite.method_config(dataset, name, suite.seeds[0], tuned=False)
    folder = suite_dir(suite.suite)
    if name in suite.variants():
        why = "a sweep point, its hyper-parameters fixed by the suite's `sweeps`"
        return write_untuned({**base, "method": name}, tuned_path(dataset, name, folder), why)
    if (
        name != base["method"]
    ):  # an alias (methods.<name>.method): never searched (snnkd.pipeline.suite checks)
        why = f"an alias of '{base['method']}' (methods.{name}.method), not searched"
        return write_untuned({**base, "method": name}, tuned_path(dataset, name, folder), why)
    t = suite.tune
    seeds = suite.seeds[: t.seeds] if t.seeds > 1 else None
    return tune_stage(
        base,
        trials=t.trials,
        epochs=t.epochs,
        objectives=t.objectives,
        batch=suite.jobs,
        pruner=t.pruner,
        seeds=seeds,
        results_dir=folder,
        journals=Path("runs/tuning") / suite.suite,
    )
