"""Exit codes and the exceptions the CLI boundary maps to them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses of ``calib`` (see DESIGN.md "Exit codes").

    ``calibcli.cli.main.exit_status`` is the one map from an outcome (an
    :class:`Outcome`, or the exception a run ended with) to these.
    """

    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130


@dataclass(frozen=True)
class Outcome:
    """How a command that ran to the end came out: a failed gate, inputs that could not be processed."""

    gate_failed: bool = False
    failed_inputs: int = 0


class CalibError(Exception):
    """An error the user can fix: bad input, bad usage or bad config (exit 2)."""

    exit_code = ExitCode.USAGE


class InputError(CalibError):
    """A prediction file cannot be read or fails validation."""


class ConfigError(CalibError):
    """A configuration file or setting is invalid."""


class UsageError(CalibError):
    """Options that do not fit together."""
