"""Checks of the extra columns read with each batch (``LoadOptions.extra_cols``: ``--by``)."""

from __future__ import annotations

import difflib

from calibcli.errors import InputError


def check_extra_columns(names: list[str], extra_cols: tuple[str, ...], display: str, option: str = "--by") -> None:
    """Raise ``InputError`` when a file lacks one of ``extra_cols``, naming the file, the column,
    the closest column names (did you mean) and the columns it has.

    >>> check_extra_columns(["label", "p_1", "region"], ("region",), "f.csv")
    >>> check_extra_columns(["label", "p_1", "region"], ("regoin",), "f.csv")
    Traceback (most recent call last):
    ...
    calibcli.errors.InputError: f.csv: no column 'regoin' (given by --by). Did you mean 'region'? Columns: label, p_1, region.
    """
    for c in extra_cols:
        if c in names:
            continue
        close = difflib.get_close_matches(c, names, n=3, cutoff=0.6)
        if not close:
            close = [n for n in names if n.lower() == c.lower()]
        hint = f" Did you mean {' or '.join(repr(x) for x in close)}?" if close else ""
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise InputError(f"{display}: no column '{c}' (given by {option}).{hint} Columns: {shown}.")
    if len(names) != len(set(names)):
        for c in extra_cols:
            if names.count(c) > 1:
                raise InputError(f"{display}: the column name '{c}' (given by {option}) appears {names.count(c)} times "
                                 "in the header. Rename or remove the repeated column.")
