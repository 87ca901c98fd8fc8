"""The problems found in the input, and the one message that names them all.

Each problem names its column, what is wrong, where (per file: how many rows and
the first few, numbered from 1 without the header) and the fix. Places come from
per-file :class:`~calibcli.stats.problems.ProblemLog` states, so the rows named do
not depend on how the input was batched.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ROWS_SHOWN = 5
MAX_FILES_SHOWN = 10
DROP_FIX = "pass --drop-invalid to drop them"


@dataclass(frozen=True)
class FoundProblem:
    """One problem: column, what (with numbers), fix, and per file (file index, rows, first rows 0-based)."""

    column: str
    what: str
    fix: str
    per_file: tuple[tuple[int, int, tuple[int, ...]], ...]

    @property
    def count(self) -> int:
        return sum(c for _, c, _ in self.per_file)

    @property
    def short(self) -> str:
        """``what`` without the numbers in brackets (the key of ``LoadedInput.dropped``)."""
        return self.what.split(" (")[0]


def describe(per_file, names: list[str] | tuple[str, ...]) -> str:
    """Where a problem is: ``a.csv: 3 rows (row 2, 5, 9); b.csv: 1 row (row 4)``.

    >>> describe([(0, 7, (1, 2, 3, 4, 5))], ["a.csv"])
    'a.csv: 7 rows (row 2, 3, 4, 5, 6 and 2 more)'
    """
    parts = []
    listed = [p for p in per_file if p[1]]
    for f, count, rows in listed[:MAX_FILES_SHOWN]:
        shown = ", ".join(str(int(r) + 1) for r in rows[:MAX_ROWS_SHOWN])
        more = f" and {count - MAX_ROWS_SHOWN} more" if count > MAX_ROWS_SHOWN else ""
        parts.append(f"{names[f]}: {count} row{'s' if count != 1 else ''} (row {shown}{more})")
    if len(listed) > MAX_FILES_SHOWN:
        rest = listed[MAX_FILES_SHOWN:]
        parts.append(f"and {sum(c for _, c, _ in rest):,} rows in {len(rest)} more files")
    return "; ".join(parts)


def format_problems(problems: list[FoundProblem], names: list[str] | tuple[str, ...]) -> str:
    """The message listing every problem (one line each) and how rows are numbered."""
    head = f"invalid input ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"
    lines = [head]
    for p in problems:
        lines.append(f"- column '{p.column}': {p.what} in {describe(p.per_file, names)}. Fix: {p.fix}.")
    lines.append("Rows are numbered from 1, not counting the header.")
    return "\n".join(lines)


def places_of(logs, key: str) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """(file, count, first rows) of ``key`` in per-file problem logs (files without it left out)."""
    out = []
    for f, log in enumerate(logs):
        count = log.counts.get(key, 0)
        if count:
            out.append((f, count, tuple(int(r) for r in log.places[key][:, 1])))
    return tuple(out)


def union_places(logs, keys: list[str]) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """Like :func:`places_of` for the rows having any of ``keys`` (disjoint sets of rows)."""
    import numpy as np

    out = []
    for f, log in enumerate(logs):
        count = sum(log.counts.get(k, 0) for k in keys)
        if count:
            rows = np.sort(np.concatenate([log.places[k][:, 1] for k in keys if k in log.places]))
            out.append((f, count, tuple(int(r) for r in rows[:MAX_ROWS_SHOWN])))
    return tuple(out)
