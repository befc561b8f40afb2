"""The loop one worker process runs until its study holds the budgeted number of trials.

A study's budget ``spec.trials`` counts *finished* trials (complete or pruned),
whichever worker or machine ran them. A worker:

1. fails and re-queues trials of dead workers (heartbeats for databases, a pid
   check for journal files);
2. stops when the study holds ``trials`` finished trials;
3. waits while the running trials would fill the budget (one of them may still
   die and need a retry), else runs one more trial (a re-queued one first).

Started as ``python -m snnkd.tune.worker`` with the spec as JSON on stdin, so a
storage password never appears on a command line.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

from snnkd.errors import SnnkdError, TrainingDiverged
from snnkd.tune.objective import Objective, SurplusTrial
from snnkd.tune.spec import TuneSpec
from snnkd.tune.storage import is_journal, open_storage, recover_dead_local_trials


@dataclass
class Counts:
    finished: int
    running: int
    failed: int


def counts(study: Any) -> Counts:
    """Finished (complete + pruned), running, and failed trials (surplus ones not counted)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    failed = sum(t.state == TrialState.FAIL and not t.user_attrs.get("surplus") for t in trials)
    return Counts(done, running, failed)


def trial_seed(seed: int, number: int) -> int:
    """The random seed of trial ``number`` of a study seeded with ``seed``."""
    return (seed * 1_000_003 + number) % 2**32


def make_sampler(spec: TuneSpec, index: int = 0) -> Any:
    """A TPE sampler whose randomness is re-seeded from (``--seed``, trial number) before every trial.

    Trial numbers are unique in a study, whichever process or machine takes them,
    so separate ``snnkd tune`` commands on one study (and the workers of one
    command) never draw the same random numbers and never propose the same point,
    while a lone tuner stays reproducible. ``index`` (the worker) needs no seed of its own.
    """
    import optuna

    class TrialSeededTPESampler(optuna.samplers.TPESampler):
        def before_trial(self, study: Any, trial: Any) -> None:
            super().before_trial(study, trial)
            seed = trial_seed(spec.sampler_seed, trial.number)
            # TPE draws from its own RandomState and its start-up RandomSampler's
            self._rng.rng.seed(seed)
            self._random_sampler._rng.rng.seed((seed + 1) % 2**32)

    n = spec.trials
    return TrialSeededTPESampler(
        seed=spec.sampler_seed,
        n_startup_trials=max(1, min(10, n // 2)),
        constant_liar=True,  # other tuners may be running trials right now, whatever this one knows
    )


def make_pruner(spec: TuneSpec) -> Any:
    """The study's pruner (:mod:`snnkd.tune.pruners`), epochs as the resource."""
    from snnkd.tune import pruners

    epochs = int(spec.base.get("train", {}).get("epochs", 20))
    return pruners.make(spec.pruner, epochs, spec.trials, spec.multi)


def load(spec: TuneSpec, index: int) -> Any:
    import optuna

    storage = open_storage(spec.storage, spec.heartbeat_interval, spec.grace_period, spec.max_retry)
    return optuna.load_study(
        study_name=spec.study, storage=storage, sampler=make_sampler(spec, index), pruner=make_pruner(spec)
    )


def recover(study: Any, spec: TuneSpec) -> None:
    """Fail (and re-queue) trials of dead workers."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    if is_journal(spec.storage):
        recover_dead_local_trials(study, spec.max_retry)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


class SurplusFilter(logging.Filter):
    """Drops Optuna's warnings (one with a traceback) about surplus trials: an expected, harmless race.

    Optuna logs ``Trial N failed with parameters ... SurplusTrial(...)`` and then
    ``Trial N failed with value None.``; both are dropped for such a trial, every
    other trial's warnings pass.
    """

    def __init__(self) -> None:
        super().__init__()
        self.surplus: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        found = re.match(r"Trial (\d+) failed with", msg)
        if found is None:
            return True
        if "SurplusTrial(" in msg:
            self.surplus.add(int(found.group(1)))
            return False
        return int(found.group(1)) not in self.surplus


_SURPLUS_FILTER = SurplusFilter()


def work(spec: TuneSpec, index: int = 0, poll: float | None = None) -> int:
    """Run trials of ``spec``'s study until its budget is met; returns how many this worker ran."""
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optimize_log = logging.getLogger("optuna.study._optimize")
    if _SURPLUS_FILTER not in optimize_log.filters:
        optimize_log.addFilter(_SURPLUS_FILTER)
    torch.set_num_threads(spec.threads)
    study = load(spec, index)
    objective = Objective(spec)
    poll = poll if poll is not None else min(2.0, spec.heartbeat_interval)
    ran = 0
    while True:
        recover(study, spec)
        c = counts(study)
        if c.finished >= spec.trials:
            return ran
        if c.failed > max(3, spec.trials):
            raise SnnkdError(
                f"study {spec.study}: {c.failed} trials failed (more than the budget); see the study's trials"
            )
        if c.finished + c.running >= spec.trials:
            time.sleep(poll)  # the budget is in flight; wait in case a running trial's worker dies
            continue
        if spec.batch > 1:
            ran += run_batch(study, objective, min(spec.batch, spec.trials - c.finished))
            continue
        study.optimize(objective, n_trials=1, catch=(TrainingDiverged, SurplusTrial))
        ran += 1


def trial_job(objective: Objective, trial_id: int) -> tuple[str, Any]:
    """One asked trial, trained wherever it runs (a forked process or a Ray task): how it ended.

    The study is loaded again from its storage (a journal file or a database every worker
    reaches), and the trial's points, drawn by the asking process, come back from it.
    """
    import optuna

    trial = optuna.trial.Trial(load(objective.spec, 0), trial_id)
    try:
        return "complete", objective(trial)
    except optuna.TrialPruned:
        return "pruned", None
    except (TrainingDiverged, SurplusTrial) as err:
        return "fail", str(err)


def run_batch(study: Any, objective: Objective, size: int, backend: str | None = None) -> int:
    """Ask ``size`` trials, train them at once (:mod:`snnkd.pipeline.tasks`), then tell them in trial order.

    Deterministic in parallel: the sampler proposes all of a batch's points here, in trial
    order, before any is trained (TPE's constant liar sees the earlier ones as running), the median
    pruner compares a trial only with *completed* trials (none of its own batch), and results
    are told in trial-number order, so the study's history does not depend on timing or on
    where each trial trained.
    """
    from optuna.trial import TrialState

    from snnkd.pipeline import tasks
    from snnkd.tune.space import sample

    trials = []
    for _ in range(size):  # points drawn here, in trial order: a job's suggest calls get them back
        trial = study.ask()
        sample(trial, objective.space)
        trials.append(trial)
    jobs = [(objective, t._trial_id) for t in trials]
    outcomes = tasks.run(trial_job, jobs, len(jobs), cpus=objective.spec.threads, backend_name=backend)
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}
    for trial, outcome in zip(trials, outcomes, strict=True):
        state, value = outcome.value if outcome.ok else ("fail", None)  # a job that died fails its trial
        study.tell(trial, value if state == "complete" else None, state=states[state])
    return len(trials)


def main() -> int:
    """Entry point of a worker process: ``python -m snnkd.tune.worker INDEX [PARENT_PID]``, spec on stdin."""
    from snnkd.cli.torch_logs import quiet_torch_logs

    quiet_torch_logs()
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if len(sys.argv) > 2:  # the coordinator's pid: this worker dies with it
        from snnkd.pipeline.tasks import die_with_parent

        die_with_parent(int(sys.argv[2]))
    spec = TuneSpec.model_validate_json(sys.stdin.read())
    try:
        work(spec, index)
    except SnnkdError as err:
        from snnkd.tune.storage import scrub

        print(f"snnkd: worker {index}: error: {scrub(str(err), spec.storage)}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
