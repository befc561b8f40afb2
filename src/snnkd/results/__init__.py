"""A suite's results: the leaderboard (:mod:`~snnkd.results.leaderboard`), statistics over seeds
(:mod:`~snnkd.results.stats`), the accuracy-activity trade-off (:mod:`~snnkd.results.tradeoff`,
:mod:`~snnkd.results.layer_ops`), plots, the HTML report and output files replaced all together
(:mod:`~snnkd.results.file_set`).
"""
