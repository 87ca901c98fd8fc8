"""Subgroups and drift (``calib audit --by COL``, ``--by-bins N``, ``--by-time FREQ``).

- :mod:`~calibcli.subgroups.keys`: the options (:class:`GroupSpec`) and how a column's values become group keys.
- :mod:`~calibcli.subgroups.edges`: the ``--by-bins`` first pass (quantile cut points).
- :mod:`~calibcli.subgroups.state`: :class:`GroupedMeasure`, a ``MeasureState`` per group (a pass consumer).
- :mod:`~calibcli.subgroups.run`: :func:`audit_groups` (the passes and finalize).
- :mod:`~calibcli.subgroups.result`: :class:`SubgroupReport`, :class:`GroupResult`, the gate's :func:`group_rule_value`.
"""

from calibcli.subgroups.keys import DEFAULT_MAX_GROUPS, DEFAULT_MIN_GROUP_ROWS, MISSING, GroupSpec, parse_freq
from calibcli.subgroups.result import GroupResult, SubgroupReport, group_rule_value
from calibcli.subgroups.run import audit_groups, finalize_groups, grouped_state
from calibcli.subgroups.state import GroupedMeasure

__all__ = ["DEFAULT_MAX_GROUPS", "DEFAULT_MIN_GROUP_ROWS", "MISSING", "GroupResult", "GroupSpec", "GroupedMeasure",
           "SubgroupReport", "audit_groups", "finalize_groups", "group_rule_value", "grouped_state", "parse_freq"]
