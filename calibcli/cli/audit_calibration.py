"""Audit hook: post-hoc calibration inside ``calib audit`` (issue: temperature scaling).

Contract used by ``calibcli.cli.audit``:
- ``options(fn)``: decorator adding this feature's click options to ``audit``.
- ``attach(report, loaded, opts) -> AuditReport``: returns the report with
  ``calibration`` set (or unchanged). ``opts`` holds all audit keyword options,
  including ``load_options``, ``n_bins`` and ``strategy``. No numerics here.
"""

from __future__ import annotations


def options(fn):
    return fn


def attach(report, loaded, opts: dict):
    return report
