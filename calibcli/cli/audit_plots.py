"""Audit hook: reliability diagrams (issue: plots).

- ``options(fn)``: ``--plots DIR`` and friends.
- ``write_outputs(reports, opts, inputs)``: write the PNGs after everything else
  is attached (so calibration overlays are available).
"""

from __future__ import annotations


def options(fn):
    return fn


def write_outputs(reports, opts: dict, inputs: list[str]) -> None:
    return None
