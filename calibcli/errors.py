"""Exit codes and the exceptions the CLI boundary maps to them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses of ``calib`` (see DESIGN.md "Exit codes")."""

    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130


class CalibError(Exception):
    """An error the user can fix: bad input, bad usage or bad config (exit 2)."""

    exit_code = ExitCode.USAGE


class InputError(CalibError):
    """A prediction file cannot be read or fails validation."""


class ConfigError(CalibError):
    """A configuration file or setting is invalid."""


class UsageError(CalibError):
    """Options that do not fit together."""
