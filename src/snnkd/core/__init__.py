"""The configuration of a run and what every layer shares: the run's typed configuration and identity
(:mod:`~snnkd.core.config`), name registries (:mod:`~snnkd.core.registry`), what identifies a plugin's
definition (:mod:`~snnkd.core.definitions`) and files written atomically (:mod:`~snnkd.core.atomic`).

Training library: every module here is a dependency of the training stages (``dvc.yaml``).
"""
