"""The pipeline's side of tuning: one ``tune`` stage per (dataset, method), and reading its result.

:func:`tune_stage` is what a ``dvc.yaml`` ``tune`` stage runs for one method of a suite: it
always writes ``<results_dir>/tuned/<dataset>/<method>.yaml`` (the pipeline's ``results_dir``:
``results/<suite>/``), so that every method stage can depend on its own file. A method with
nothing to tune (``scratch``, ``quant``), or a budget of 0 trials, gets the suite's own
hyper-parameters written there, marked as not tuned; any other method gets an Optuna study with
the suite's budget (the same for every method).
:func:`tuned_hparams` is what a method stage reads back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from snnkd.errors import ConfigError
from snnkd.tune.spec import TuneSpec, default_study_name, parse_objectives, slug


def tuned_path(dataset: str, method: str, results_dir: str | Path = "results") -> Path:
    """``<results_dir>/tuned/<dataset>/<method>.yaml`` (the method without spaces)."""
    return Path(results_dir) / "tuned" / dataset / f"{slug(method)}.yaml"


def tuned_hparams(dataset: str, method: str, results_dir: str | Path = "results") -> dict[str, Any] | None:
    """The hyper-parameters a ``tune`` stage chose for ``method`` on ``dataset``, if it ran."""
    path = tuned_path(dataset, method, results_dir)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text()) or {}
    if data.get("method") != method or data.get("dataset") != dataset or "hparams" not in data:
        raise ConfigError(f"{path}: not the tuned settings of {method} on {dataset}")
    return dict(data["hparams"])


def write_untuned(base: Mapping[str, Any], path: Path, why: str) -> Path:
    """The run's own hyper-parameters as its tuned file, with the reason it was not tuned."""
    body = {"dataset": base["dataset"], "method": base["method"], "hparams": dict(base.get("hparams", {}))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Not tuned: {why}; the suite's own hyper-parameters.\n" + yaml.safe_dump(body))
    return path


def tune_stage(
    base: Mapping[str, Any],
    *,
    trials: int,
    epochs: int | None,
    objectives: str = "accuracy",
    storage: str | None = None,
    results_dir: str | Path = "results",
    mlflow: bool = True,
    batch: int = 1,
    pruner: str = "hyperband",
    seeds: list[int] | None = None,
    journals: str | Path = "runs/tuning",
) -> Path:
    """Tune the run config ``base`` (its ``hparams`` are the suite's values, not fixed ones).

    ``base`` is the RunConfig data of the method's run (dataset, model, teacher checkpoint,
    seed...). Hyper-parameters are searched over the plugin's full space; the study is
    resumable (journal file under ``journals``; the pipeline's: one folder per suite). With ``seeds``
    (two or more), a trial's objective is the mean over those seeds' validation scores
    (:class:`TuneSpec` ``seeds``).
    Returns the tuned YAML's path.
    """
    from snnkd.methods import get_method
    from snnkd.tune import study
    from snnkd.tune.space import is_searchable
    from snnkd.tune.storage import default_storage

    method, dataset = str(base["method"]), str(base["dataset"])
    path = tuned_path(dataset, method, results_dir)
    space = [
        n for n, hp in get_method(method, base.get("plugin_dirs", [])).hparams.items() if is_searchable(hp)
    ]
    if not space:
        return write_untuned(base, path, f"'{method}' has no hyper-parameter to search")
    if trials <= 0:
        return write_untuned(base, path, "the suite's tune budget is 0 trials")
    data = {k: v for k, v in base.items() if k != "hparams"}
    if epochs is not None:  # else the run's own budget (max epochs, patience): trials train to a plateau
        data["train"] = {**dict(base.get("train", {})), "epochs": epochs}
    budget = data.get("train", {}).get("epochs", "default")
    objs = parse_objectives(objectives)
    over = f"-{len(seeds)}seeds" if seeds and len(seeds) > 1 else ""
    spec = TuneSpec(
        base=data,
        trials=trials,
        objectives=objs,
        storage=storage or default_storage(dataset, slug(method), journals),
        # a pruner other than the default is another study (a resumed journal must not mix them)
        study=f"pipeline-{default_study_name(method, dataset, objs)}-{trials}x{budget}{over}"
        + ("" if pruner == "median" else f"-{pruner}"),
        results_dir=str(results_dir),
        mlflow=mlflow,
        sampler_seed=int(base.get("seed", 0)),
        batch=batch,
        pruner=pruner,
        seeds=tuple(seeds) if seeds and len(seeds) > 1 else (),
    )
    study.run(spec, quiet=True)
    return path
