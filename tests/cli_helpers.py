"""Run the CLI in-process through its real entry point (exit-code mapping included)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

from calibcli.cli.main import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(args: list[str], stdin: bytes | None = None, monkeypatch=None) -> Result:
    """Call ``calib ARGS`` as the console script would; capture both streams."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
    return Result(int(code), out.getvalue(), err.getvalue())
