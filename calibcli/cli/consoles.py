"""stdout and stderr consoles, made per invocation (no module-level state)."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def _width() -> int | None:
    cols = os.environ.get("COLUMNS")
    return int(cols) if cols and cols.isdigit() else None


def out_console() -> Console:
    """Results: stdout. Honours NO_COLOR; 80 columns when not a terminal."""
    return Console(file=sys.stdout, width=_width() or (None if sys.stdout.isatty() else 80), highlight=False, soft_wrap=False)


def err_console() -> Console:
    """Progress, warnings and errors: stderr."""
    return Console(file=sys.stderr, width=_width() or (None if sys.stderr.isatty() else 100), highlight=False, soft_wrap=True)
