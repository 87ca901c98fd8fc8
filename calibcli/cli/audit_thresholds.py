"""Audit hook: the thresholds section of ``calib audit`` (issue: decision thresholds).

Same contract as ``audit_calibration``: ``options(fn)`` and
``attach(report, loaded, opts) -> AuditReport`` (sets ``thresholds``). Runs after
calibration, so ``report.calibration`` is available.
"""

from __future__ import annotations


def options(fn):
    return fn


def attach(report, loaded, opts: dict):
    return report
