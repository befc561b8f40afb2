"""One trial: sample hyper-parameters, train through ``fit``, score on the validation split.

The trial never reads the test split: ``fit(..., evaluate=False)`` trains to the
budget's plateau (early stopping, best-validation weights restored) and returns
without a test evaluation; accuracy, spikes per sample and energy are then
measured on the validation split. Single-objective trials report validation accuracy after every epoch
and are pruned by the study's pruner; multi-objective trials are not (Optuna
does not support ``trial.report`` there).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from snnkd.tune.mlruns import PARENT_ATTR, TrialRun
from snnkd.tune.space import sample, search_space
from snnkd.tune.spec import OBJECTIVES, TuneSpec
from snnkd.tune.storage import WORKER_ATTR, worker_tag

VAL_SAMPLES_FOR_ENERGY = 256


class SurplusTrial(Exception):
    """The study's budget was already taken when this trial started (a race between workers)."""


def validation_metrics(run: Any, energy: bool) -> dict[str, float]:
    """Accuracy and activity of a trained run on its validation split (energy on request)."""
    import torch

    from snnkd.evaluation import metrics as M

    cfg = run.cfg
    gen = torch.Generator().manual_seed(cfg.seed)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return run.encode(run.data.batch(x, False), gen)

    res = M.evaluate(run.model, run.data.val, encode, cfg.train.eval_batch_size, run.device)
    out = {"val_accuracy": float(res["accuracy"]), "val_spikes_per_sample": float(res["spikes_per_sample"])}
    if energy:
        x = encode(run.data.val.x[:VAL_SAMPLES_FOR_ENERGY].to(run.device))
        bits = getattr(run.model, "weight_bits", 32)
        out["val_energy_pj"] = float(M.operations(run.model, x, "int8" if bits <= 8 else "fp32")["energy_pj"])
    return out


def train_and_score(
    spec: TuneSpec,
    hparams: Mapping[str, Any],
    on_epoch: Callable[[int, float], None],
    one: Callable[..., dict[str, float]] | None = None,
) -> dict[str, float]:
    """Train one configuration for ``spec``'s epochs and return its validation metrics.

    With several seeds (``spec.run_seeds``), each trains in turn and every metric is the mean
    over them, ``m = (1/k) sum_s m_s`` (the per-seed values are kept under ``seed<s>/<metric>``);
    only the first seed's epochs are reported, so pruning reads one curve per trial as before.
    ``one(spec, hparams, seed, on_epoch)`` trains and scores one seed (default: :func:`train_one`).
    """
    one = one or train_one
    per_seed = []
    for i, seed in enumerate(spec.run_seeds):
        report = on_epoch if i == 0 else (lambda epoch, acc: None)
        per_seed.append(one(spec, hparams, seed, report))
    if len(per_seed) == 1:
        return per_seed[0]
    out = {k: sum(m[k] for m in per_seed) / len(per_seed) for k in per_seed[0]}
    for seed, m in zip(spec.run_seeds, per_seed, strict=True):
        out.update({f"seed{seed}/{k}": v for k, v in m.items()})
    return out


def train_one(
    spec: TuneSpec, hparams: Mapping[str, Any], seed: int, on_epoch: Callable[[int, float], None]
) -> dict[str, float]:
    """Train ``spec``'s run with ``hparams`` and ``seed`` to its plateau; its validation metrics."""
    from snnkd.core.config import validate
    from snnkd.trainer.loop import fit
    from snnkd.trainer.run import prepare

    data = dict(spec.base)
    data["hparams"] = {**spec.base.get("hparams", {}), **hparams}
    data["seed"] = seed
    cfg = validate(data)
    run = prepare(cfg)

    def callback(epoch: int, stats: dict[str, float]) -> None:
        on_epoch(epoch, float(stats["val_accuracy"]))

    with tempfile.TemporaryDirectory(prefix="snnkd-trial-") as tmp:
        fit(run, Path(tmp), show_progress=False, on_epoch=callback, evaluate=False)  # best-val weights
    return validation_metrics(run, energy="energy" in spec.objectives)


def in_budget(study: Any, number: int, budget: int) -> bool:
    """Whether trial ``number`` has a slot: fewer than ``budget`` earlier trials are not failed.

    Decided only from trials numbered below this one, so concurrent workers agree,
    and the study never ends with more than ``budget`` complete or pruned trials.
    """
    from optuna.trial import TrialState

    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
    return sum(t.state != TrialState.FAIL for t in earlier) < budget


class Objective:
    """The callable handed to ``study.optimize``: one trial of ``spec``."""

    def __init__(self, spec: TuneSpec, trainer: Callable[..., dict[str, float]] = train_and_score) -> None:
        self.spec = spec
        self.space = search_space(spec.method, spec.base.get("hparams", {}), spec.base.get("plugin_dirs", []))
        self.trainer = trainer

    def __call__(self, trial: Any) -> float | tuple[float, ...]:
        import optuna

        spec = self.spec
        trial.set_user_attr(WORKER_ATTR, worker_tag(trial.number))
        if not in_budget(trial.study, trial.number, spec.trials):
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number} started after the budget of {spec.trials} was taken")
        params = sample(trial, self.space)
        parent = trial.study.user_attrs.get(PARENT_ATTR) if spec.mlflow else None
        log = TrialRun(spec, parent, trial.number, params)
        if log.run_id:
            trial.set_user_attr("mlflow_run_id", log.run_id)

        def on_epoch(epoch: int, val_accuracy: float) -> None:
            log.metric("val_accuracy", val_accuracy, step=epoch)
            if spec.multi:
                return
            trial.report(val_accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch} (val accuracy {val_accuracy:.4f})")

        try:
            metrics = self.trainer(spec, params, on_epoch)
        except optuna.TrialPruned:
            log.end("KILLED")
            raise
        except BaseException:
            log.end("FAILED")
            raise
        for k, v in metrics.items():
            trial.set_user_attr(k, v)
        log.end("FINISHED", metrics)
        values = tuple(metrics[OBJECTIVES[o][0]] for o in spec.objectives)
        return values if spec.multi else values[0]
