"""``snnkd scale``: the stale stages of ``dvc repro``, their seeds and trials, as Ray tasks.

DVC stays the only judge of what is up to date. The driver asks DVC which stages are stale
(:mod:`snnkd.scale.dag`), runs each as a Ray task in dependency order, as many at once as the
cluster's resources allow (:mod:`snnkd.scale.driver`); a task runs ``dvc repro <stage>`` in a
workspace of its own, a clone of the driver's commit plus its uncommitted files
(:mod:`snnkd.scale.workspace`), and hands the result back through DVC's run cache
(``dvc push --run-cache`` to a directory remote; :mod:`snnkd.scale.stage_task`). The driver ends
with ``dvc pull --run-cache`` and a ``dvc repro`` that may execute nothing.
"""
