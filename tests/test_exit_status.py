"""The one map from how a run ended to calib's exit status (cli.main.exit_status)."""

from __future__ import annotations

import errno

import click
import pytest

from calibcli.cli.main import exit_status
from calibcli.errors import ConfigError, ExitCode, InputError, Outcome, UsageError


@pytest.mark.parametrize("outcome, code", [
    (None, 0),
    (Outcome(), 0),
    (Outcome(gate_failed=True), 1),
    (Outcome(failed_inputs=2), 2),
    (Outcome(gate_failed=True, failed_inputs=1), 2),  # an input that failed outweighs the gate
    (InputError("bad file"), 2),
    (UsageError("bad flags"), 2),
    (ConfigError("bad config"), 2),
    (click.UsageError("no such option"), 2),
    (click.exceptions.Exit(0), 0),
    (click.exceptions.Abort(), 130),
    (KeyboardInterrupt(), 130),
    (BrokenPipeError(), 0),
    (OSError(errno.ENOSPC, "No space left on device"), 2),
    (OSError(errno.EACCES, "Permission denied"), 3),
    (ValueError("a bug"), 3),
])
def test_exit_status(outcome, code):
    assert exit_status(outcome) == code
    assert code in {int(c) for c in ExitCode}


def test_commands_return_outcomes_not_codes():
    """calib audit's gate and calib thresholds' failed files reach the exit status through Outcome."""
    import inspect

    from calibcli.cli import audit_gate, thresholds

    assert "Outcome(" in inspect.getsource(audit_gate.outcome)
    assert "ExitCode" not in inspect.getsource(thresholds) and "ExitCode" not in inspect.getsource(audit_gate)
