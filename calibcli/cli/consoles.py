"""stdout and stderr consoles, made per invocation (no module-level state).

Width policy (the same for both streams):

- a terminal: its own width (``COLUMNS`` overrides it, as everywhere);
- not a terminal (a pipe, a file, a CI log): ``COLUMNS`` when set, else no
  wrapping at all, so file and class names are never broken mid-word and
  ``grep`` finds whole lines. Rules (separators) are then drawn 80 wide.

Colour follows rich: ``NO_COLOR`` turns it off, ``FORCE_COLOR`` on.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console

UNBOUNDED = 100_000  # "no wrapping": wider than any line calib prints
RULE_WIDTH = 80  # separators when the width is unbounded


def columns_from_env(environ: dict[str, str] | None = None) -> int | None:
    """``COLUMNS`` as a positive int, or None when unset or not a number.

    >>> columns_from_env({"COLUMNS": "120"}), columns_from_env({"COLUMNS": "wide"}), columns_from_env({})
    (120, None, None)
    """
    cols = (os.environ if environ is None else environ).get("COLUMNS", "").strip()
    return int(cols) if cols.isdigit() and int(cols) > 0 else None


def console_width(stream: IO[str], environ: dict[str, str] | None = None) -> int | None:
    """The width a console on ``stream`` renders at; None lets rich ask the terminal.

    >>> import io
    >>> console_width(io.StringIO(), {}) == UNBOUNDED, console_width(io.StringIO(), {"COLUMNS": "100"})
    (True, 100)
    """
    cols = columns_from_env(environ)
    if cols is not None:
        return cols
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed or detached stream
        tty = False
    return None if tty else UNBOUNDED


class _Console(Console):
    """A rich Console whose rules stay 80 wide when its width is unbounded."""

    def rule(self, *args, **kwargs) -> None:  # noqa: D102 (rich's signature)
        if self.width < UNBOUNDED:
            return super().rule(*args, **kwargs)
        from rich.rule import Rule

        self.print(Rule(*args, **kwargs), width=RULE_WIDTH)


def out_console() -> Console:
    """Results: stdout. Honours NO_COLOR; no wrapping when not a terminal (unless COLUMNS is set)."""
    return _Console(file=sys.stdout, width=console_width(sys.stdout), highlight=False, soft_wrap=False)


def err_console() -> Console:
    """Progress, warnings and errors: stderr, one unwrapped line per message (the terminal wraps it)."""
    return _Console(file=sys.stderr, width=console_width(sys.stderr), highlight=False, soft_wrap=True)
