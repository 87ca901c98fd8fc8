"""``audit_groups``: the passes of a subgroup audit and their finalize.

One pass (``GroupedMeasure``), or two with ``--by-bins`` (the quantile cut points first:
:class:`~calibcli.subgroups.edges.GroupEdgeState`). Every pass is
:func:`calibcli.engine.local.feed`, so it runs on any engine.
"""

from __future__ import annotations

from calibcli.errors import InputError
from calibcli.predictions import Task
from calibcli.subgroups.edges import ColumnCuts, GroupEdgeState
from calibcli.subgroups.keys import MISSING, GroupSpec, UngroupableColumn
from calibcli.subgroups.result import GroupResult, SubgroupReport
from calibcli.subgroups.state import GroupedMeasure


def group_cuts(source, spec: GroupSpec, seed: int = 0) -> dict[str, ColumnCuts]:
    """The quantile cut points of every ``--by-bins`` column (one pass; none without ``--by-bins``)."""
    if not spec.bins:
        return {}
    from calibcli.engine.local import feed

    state = GroupEdgeState(spec, seed=seed)
    feed(source, state)
    return state.finalize()


def grouped_state(source, spec: GroupSpec, edges, seed: int = 0, key_on_ids: bool = False,
                  n_blocks: int | None = None) -> GroupedMeasure:
    """The fed :class:`GroupedMeasure` of ``source`` (one pass, two with ``--by-bins``)."""
    from calibcli.engine.local import feed

    info = source.info
    cuts = group_cuts(source, spec, seed)
    state = GroupedMeasure(spec, info.task, info.classes, edges, cuts, seed, key_on_ids, n_blocks)
    try:
        feed(source, state)
    except UngroupableColumn as exc:
        raise InputError(f"{_where(info.files)}: {exc}") from None
    return state


def _where(files) -> str:
    """The input files in an error message: the file, or the first few of several."""
    files = [str(f) for f in files or ()]
    if len(files) <= 1:
        return files[0] if files else "the input"
    shown = ", ".join(files[:3]) + (f", ... ({len(files)} files)" if len(files) > 3 else "")
    return f"one of the inputs ({shown})"


def audit_groups(source, spec: GroupSpec, edges, seed: int = 0, key_on_ids: bool = False,
                 n_blocks: int | None = None) -> SubgroupReport:
    """Measure every subgroup of ``source`` on the audit's bin ``edges``.

    Parameters
    ----------
    source : BatchSource
        Opened with ``LoadOptions(extra_cols=spec.columns)``.
    spec : GroupSpec
    edges : BinEdges
        The audit's bins (so a group's ECE reads like the audit's).
    seed, key_on_ids : the bootstrap's seed and keying (as the audit's intervals).
    n_blocks : bootstrap blocks per group (default: :func:`~calibcli.subgroups.state.group_blocks`).

    Returns
    -------
    SubgroupReport

    Raises
    ------
    UsageError
        More groups than ``spec.max_groups``; ``--by-bins``/``--by-time`` on a column of another type.
    """
    return finalize_groups(grouped_state(source, spec, edges, seed, key_on_ids, n_blocks))


def _label(state: GroupedMeasure, col: str, comp) -> str:
    if comp is None:
        return MISSING
    kinds = state.kinds[col]
    if isinstance(comp, int) and "periods" in kinds:
        return state.spec.freq_of(col).label(comp)
    if isinstance(comp, int) and "buckets" in kinds:
        return state.cuts[col].label(comp)
    return str(comp)


def _sort_key(key: tuple) -> tuple:
    return tuple((c is None, isinstance(c, str), c if c is not None else 0) for c in key)


def column_notes(state: GroupedMeasure) -> tuple[str, ...]:
    """How each ``--by`` column was cut, in words (values, buckets, periods and zones)."""
    notes = []
    for col in state.spec.columns:
        kinds = state.kinds[col]
        if "buckets" in kinds:
            notes.append(state.cuts[col].note())
        if "periods" in kinds:
            f = state.spec.freq_of(col)
            zones = sorted(state.zones[col])
            how = ("naive timestamps, floored as written (no zone assumed)" if zones == [""] else
                   f"timezone-aware ({', '.join(z or 'naive' for z in zones)}), floored in local time")
            notes.append(f"{col}: periods of {f.text} ({f.multiple} {f.unit}{'s' if f.multiple > 1 else ''}; weeks from "
                         f"Monday, multiples from 1970-01-01); {how}")
        if "values" in kinds:
            notes.append(f"{col}: one group per value; null, NaN and empty text form the group {MISSING}")
    return tuple(notes)


def finalize_groups(state: GroupedMeasure) -> SubgroupReport:
    """The :class:`SubgroupReport` of a fed :class:`GroupedMeasure` (division happens here)."""
    from calibcli.direction import describe_direction

    spec = state.spec
    groups = []
    head = 1 if state.task is Task.BINARY and len(state.classes) == 2 else None
    for key in sorted(state.states, key=_sort_key):
        m = state.states[key].finalize()
        n = int(state.states[key].sums.rows)
        if head is None:
            curve, direction = m.reliability, describe_direction(m.reliability)
        else:
            curve, direction = m.classes[head].reliability, m.classes[head].direction
        groups.append(GroupResult(spec.columns, tuple(_label(state, c, k) for c, k in zip(spec.columns, key)), n,
                                  m.metrics, direction, curve, n >= spec.min_group_rows,
                                  dict(m.intervals or {}), dict(m.noise_floor or {})))
    time_cols = tuple(c for c in spec.columns if "periods" in state.kinds[c])
    return SubgroupReport(spec.columns, tuple(groups), spec.min_group_rows, spec.max_groups, column_notes(state), time_cols)
