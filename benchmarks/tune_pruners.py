"""Tuning cost and quality per pruner, on the default suite's studies.

Each study is the one ``dvc repro`` runs (``snnkd.pipeline.stages.tune``): the first seed's run config of
the method, the suite's ``tune`` budget (``trials``; every trial trains to its plateau), trials in
batches of ``jobs`` (``TuneSpec.batch``), the seeded TPE sampler. Only the pruner changes
(:mod:`snnkd.tune.pruners`: ``median``, the default, ``halving``, ``hyperband`` and Optuna's own
``hyperband-async``), epochs as the resource. The pruners of one study run one after another,
their order reversed from study to study (the machine is shared); each in a fresh journal and
result folder under a temporary directory, without MLflow.

Per study and pruner: core-time (CPU seconds of the forked trial processes), wall time, epochs
trained over all trials, pruned trials, and the chosen (best) trial's validation accuracy; then the
ratios against the median rule.

    python benchmarks/tune_pruners.py [--studies digits:logit-reg digits:kd] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from snnkd.trainer.threads import pin_isa_environment

ISA = pin_isa_environment()  # before torch starts, as the snnkd command does

PRUNERS = ("median", "halving", "hyperband", "hyperband-async")


def run_study(dataset: str, method: str, pruner: str, tmp: Path) -> dict:
    from snnkd.pipeline import suites as S
    from snnkd.tune import study
    from snnkd.tune.spec import TuneSpec, parse_objectives
    from snnkd.tune.storage import open_storage

    suite = S.load("params.yaml", "default")
    base = suite.method_config(dataset, method, suite.seeds[0], tuned=False)
    data = {k: v for k, v in base.items() if k != "hparams"}
    if suite.tune.epochs is not None:
        data["train"] = {**dict(base.get("train", {})), "epochs": suite.tune.epochs}
    folder = tmp / f"{dataset}-{method}-{pruner}"
    spec = TuneSpec(
        base=data,
        trials=suite.tune.trials,
        objectives=parse_objectives(suite.tune.objectives),
        storage=f"journal:///{folder}/study.journal",
        study=f"bench-{dataset}-{method}",
        results_dir=str(folder),
        mlflow=False,
        sampler_seed=int(base.get("seed", 0)),
        batch=suite.jobs,
        pruner=pruner,
    )
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = study.run(spec, quiet=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    import optuna

    storage = open_storage(spec.storage, spec.heartbeat_interval, spec.grace_period, spec.max_retry)
    trials = optuna.load_study(study_name=spec.study, storage=storage).trials
    return {
        "core_seconds": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "wall_seconds": wall,
        "epochs": sum(len(t.intermediate_values) for t in trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "best_val_accuracy": result.values["val_accuracy"],
        "best_trial": result.trial,
        "best_params": result.params,
        "trials": [[t.number, t.state.name, len(t.intermediate_values), t.value] for t in trials],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["digits:logit-reg", "digits:kd"])
    parser.add_argument("--pruners", nargs="+", default=list(PRUNERS))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="snnkd-tune-bench-") as tmp:
        for i, name in enumerate(args.studies):
            dataset, method = name.split(":")
            order = args.pruners if i % 2 == 0 else args.pruners[::-1]
            figures[name] = {p: run_study(dataset, method, p, Path(tmp)) for p in order}
            report(name, figures[name])
    if args.json:
        Path(args.json).write_text(json.dumps({"isa": ISA, **figures}, indent=2) + "\n")


def report(name: str, by_pruner: dict[str, dict]) -> None:
    print(f"\n{name}")
    ref = by_pruner.get("median")
    for p, f in by_pruner.items():
        line = (
            f"  {p:10s} core {f['core_seconds']:7.1f} s  wall {f['wall_seconds']:6.1f} s  "
            f"epochs {f['epochs']:4d}  pruned {f['pruned']}  best val {f['best_val_accuracy']:.4f} "
            f"(trial {f['best_trial']})"
        )
        if ref is not None and p != "median":
            line += (
                f"  core / median {f['core_seconds'] / ref['core_seconds']:.3f}"
                f"  best val - median {f['best_val_accuracy'] - ref['best_val_accuracy']:+.4f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
