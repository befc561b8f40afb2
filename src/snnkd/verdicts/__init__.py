"""Verdicts read off a suite's published run files: the seed papers' claims, tuned against default
hyper-parameters, and the quantization evidence.

Each module takes a suite's results folder (``results/<suite>/``, holding
``runs/<dataset>/<name>/seed<k>/{metrics.json,run.json}``) and writes Markdown (and CSV) tables;
none of them trains. ``snnkd claims``, ``snnkd tuning-evidence`` and ``snnkd quant-evidence``
(:mod:`snnkd.verdicts.command`) are the pipeline stages that publish them.
"""
