"""Mergeable partial states: every statistic as ``update`` / ``merge`` / ``finalize``.

Modules: :mod:`~calibcli.stats.base` (the protocol, pickle-free bytes),
:mod:`~calibcli.stats.rng` (row-keyed randomness), :mod:`~calibcli.stats.bins`
(binned statistics), :mod:`~calibcli.stats.sums` (scalar sums, score evidence,
problem log), :mod:`~calibcli.stats.distinct` (exact distinct-score tables,
quantile edges) and :mod:`~calibcli.stats.kll` (a KLL quantile sketch).
Nothing here prints; only numpy is imported at module level.
"""
