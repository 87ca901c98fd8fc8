"""Decision thresholds recommended from predictions, per class, with bootstrap intervals.

An item is *flagged* (decided positive) when ``score >= threshold``; see
:mod:`calibcli.thresholds.spec` for the rule and the objectives. The modules,
one job each:

- :mod:`~calibcli.thresholds.spec`: objectives and parameters (``ThresholdSpec``), results
  (``Recommendation``, ``ThresholdReport``).
- :mod:`~calibcli.thresholds.tables`: count tables, exact per distinct score within a
  memory budget, coarsened into buckets beyond it (``CountTable``; ``build_curve``).
- :mod:`~calibcli.thresholds.select`: each objective's exact choice among the candidates of a curve.
- :mod:`~calibcli.thresholds.refine`: bounds inside buckets; which buckets to gather exactly.
- :mod:`~calibcli.thresholds.intervals`: bootstrap intervals from the merged counts.
- :mod:`~calibcli.thresholds.passes`: the pass consumer (``ThresholdCounts``: deepcopy, update, merge) that
  ``calibcli.engine.local.feed`` or another engine fills, and the views of a batch (raw, calibrated).
- :mod:`~calibcli.thresholds.plan`: the pass plan over a ``BatchSource``
  (``recommend_source``) and the in-memory forms (``recommend``, ``recommend_binary``).
"""

from calibcli.thresholds.intervals import bootstrap_method
from calibcli.thresholds.plan import (
    equivalent_threshold,
    recommend,
    recommend_binary,
    recommend_source,
    target_names,
    targets,
)
from calibcli.thresholds.spec import (
    CI_LEVEL,
    HEADLINES,
    OBJECTIVES,
    RULE,
    Recommendation,
    ThresholdReport,
    ThresholdSpec,
)
from calibcli.thresholds.tables import DEFAULT_MAX_DISTINCT, CountTable, Curve, build_curve

__all__ = [
    "CI_LEVEL", "DEFAULT_MAX_DISTINCT", "HEADLINES", "OBJECTIVES", "RULE", "CountTable", "Curve", "Recommendation",
    "ThresholdReport", "ThresholdSpec", "bootstrap_method", "build_curve", "equivalent_threshold", "recommend",
    "recommend_binary", "recommend_source", "target_names", "targets",
]


class _CallablePackage(__import__("types").ModuleType):
    """``calibcli.thresholds(...)`` is the Python API's function (:func:`calibcli.api.thresholds`), while
    ``calibcli.thresholds`` stays this package: ``import calibcli.thresholds`` binds the package to that name."""

    def __call__(self, *args, **kwargs):
        from calibcli.api import thresholds

        return thresholds(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallablePackage
