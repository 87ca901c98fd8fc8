"""Moved to :mod:`calibcli.validation.columns` (kept so existing imports work)."""

from calibcli.validation.columns import (  # noqa: F401
    CALIBRATED_PREFIX,
    LABEL_ALIASES,
    LABEL_PREFIX,
    LOGIT_PREFIXES,
    PROB_PREFIXES,
    TOP_LABEL_COLS,
    ColumnSpec,
    check_duplicates,
    check_roles,
    match_columns,
    prefix_kind,
    resolve_columns,
    strip_prefix,
)
