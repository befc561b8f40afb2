"""Optuna studies over a method's hyper-parameters (``snnkd tune``).

The search space comes from the method plugin's :class:`~snnkd.methods.HParam`
declarations; every trial trains through the same :func:`snnkd.trainer.loop.fit` as
``snnkd train`` and is scored on the validation split only.

Modules, one job each:

- :mod:`~snnkd.tune.spec` the validated description of a study (flags -> ``TuneSpec``);
- :mod:`~snnkd.tune.space` the search space of a method;
- :mod:`~snnkd.tune.storage` opening a journal file or SQLAlchemy storage, masking passwords,
  heartbeats and recovering trials of dead workers;
- :mod:`~snnkd.tune.objective` one trial: sample, train, prune, score on validation;
- :mod:`~snnkd.tune.mlruns` MLflow parent run per study, nested run per trial;
- :mod:`~snnkd.tune.worker` the loop one worker process runs until the study's budget is met;
- :mod:`~snnkd.tune.pareto` Pareto front, the chosen point and its plot;
- :mod:`~snnkd.tune.study` the coordinator: create the study, start workers, write results;
- :mod:`~snnkd.tune.command` the ``snnkd tune`` sub-command.
"""
