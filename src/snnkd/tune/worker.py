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
import queue
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


def _trial_in_child(objective: Objective, trial: Any, results: Any) -> None:
    """A forked process's side of :func:`run_batch`: run one asked trial, send back how it ended."""
    import optuna

    try:
        results.put((trial.number, "complete", objective(trial)))
    except optuna.TrialPruned:
        results.put((trial.number, "pruned", None))
    except (TrainingDiverged, SurplusTrial) as err:
        results.put((trial.number, "fail", str(err)))


def run_batch(study: Any, objective: Objective, size: int) -> int:
    """Ask ``size`` trials, train them at once in forked processes, then tell them in trial order.

    Deterministic in parallel: the sampler proposes all of a batch's points here, in trial
    order, before any is trained (TPE's constant liar sees the earlier ones as running), the median
    pruner compares a trial only with *completed* trials (none of its own batch), and results
    are told in trial-number order, so the study's history does not depend on timing.
    """
    import multiprocessing

    from optuna.trial import TrialState

    from snnkd.tune.space import sample

    trials = []
    for _ in range(size):  # points drawn here, in trial order: a child's suggest calls get them back
        trial = study.ask()
        sample(trial, objective.space)
        trials.append(trial)
    context = multiprocessing.get_context("fork")  # the children share the loaded study and objective
    results = context.Queue()
    children = [context.Process(target=_trial_in_child, args=(objective, t, results)) for t in trials]
    for child in children:
        child.start()
    ended: dict[int, tuple[str, Any]] = {}
    while len(ended) < len(children):
        try:
            number, state, value = results.get(timeout=2.0)
        except queue.Empty:
            if any(child.is_alive() for child in children):
                continue
            try:  # every child has ended: take what is left, and the silent ones fail below
                number, state, value = results.get(timeout=1.0)
            except queue.Empty:
                break
        ended[number] = (state, value)
    for child in children:
        child.join()
    states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}
    for trial in trials:
        state, value = ended.get(trial.number, ("fail", None))
        study.tell(trial, value if state == "complete" else None, state=states[state])
    return len(trials)


def main() -> int:
    """Entry point of a worker process: ``python -m snnkd.tune.worker INDEX`` with the spec on stdin."""
    from snnkd.torch_logs import quiet_torch_logs

    quiet_torch_logs()
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
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
