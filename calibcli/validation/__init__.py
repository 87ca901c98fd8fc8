"""Validation: which columns hold what, per-batch checks with the messages users see, the
problem log, score-kind evidence, and the decisions (classes, task, score kind) made from them.

- :mod:`~calibcli.validation.options`: ``LoadOptions`` and ``Adjustment``
- :mod:`~calibcli.validation.columns`: column roles from the header
- :mod:`~calibcli.validation.scores`: score columns to numbers, range and row-sum checks, score kind
- :mod:`~calibcli.validation.labels`: label values as keys, classes, label -> class index
- :mod:`~calibcli.validation.problems`: the problems found and the message naming file, column, rows and fix
- :mod:`~calibcli.validation.scan`: record batch -> raw batch; pass 1 (checks, evidence, keys); raw -> validated rows
"""
