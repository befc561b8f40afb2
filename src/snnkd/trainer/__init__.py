"""Training a run: assembled before any work (:mod:`~snnkd.trainer.run`), its frozen teacher
(:mod:`~snnkd.trainer.teacher`), networks rebuilt from checkpoints (:mod:`~snnkd.trainer.reload`), the loop
(:mod:`~snnkd.trainer.loop`), divergence, early stopping, checkpoint files and the CPU thread policy.

Training library: every module here is a dependency of the training stages (``dvc.yaml``).
"""
