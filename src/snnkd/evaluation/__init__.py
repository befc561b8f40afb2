"""Evaluating a network: batch-norm recalibration, validation accuracy, a finished run's record
(:mod:`~snnkd.evaluation.evaluate`), its metrics in one pass (:mod:`~snnkd.evaluation.metrics`,
:mod:`~snnkd.evaluation.neurobench_metrics`) and its files (:mod:`~snnkd.evaluation.run_files`).

Training library: every module here is a dependency of the training stages (``dvc.yaml``).
"""
