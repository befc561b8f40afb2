"""The pipeline: the commands ``dvc.yaml``'s stages run (:mod:`~snnkd.pipeline.stages`) and their
sub-commands (:mod:`~snnkd.pipeline.command`), benchmark suites (:mod:`~snnkd.pipeline.suite`,
:mod:`~snnkd.pipeline.suites`, :mod:`~snnkd.pipeline.sweeps`), ``params.yaml`` edited
(:mod:`~snnkd.pipeline.params_file`) and its stage plan (:mod:`~snnkd.pipeline.plan`), and many jobs at
once (:mod:`~snnkd.pipeline.tasks`).
"""
