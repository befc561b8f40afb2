"""Tracking and published files: MLflow logging of a run (:mod:`~snnkd.tracking.log`), its provenance
(:mod:`~snnkd.tracking.provenance`), the store (:mod:`~snnkd.tracking.store`), a suite's experiment
(:mod:`~snnkd.tracking.experiments`), passwords scrubbed (:mod:`~snnkd.tracking.redact`) and published
run files read back (:mod:`~snnkd.tracking.published`).
"""
