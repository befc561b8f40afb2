"""The ``snnkd`` command (:mod:`~snnkd.cli.main`), its parser (:mod:`~snnkd.cli.arguments`), the
run-setting flags of ``train`` and ``tune`` (:mod:`~snnkd.cli.run_flags`), the tables of ``snnkd list``
(:mod:`~snnkd.cli.listing`), output folders checked before work (:mod:`~snnkd.cli.outdir`) and silenced
torch log lines (:mod:`~snnkd.cli.torch_logs`).

The sub-commands' modules (``tune.command``, ``pipeline.command``, ...) use the parser and the flags;
none imports :mod:`~snnkd.cli.main`, which imports them.
"""
