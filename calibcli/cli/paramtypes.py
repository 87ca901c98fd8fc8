"""click parameter types shared by the commands.

The ranges they are given agree with :data:`calibcli.config.SETTINGS`, which
checks the same settings from config files and ``CALIB_*`` variables (a test
compares every option with its entry).
"""

from __future__ import annotations

import math

import click


class FiniteFloat(click.FloatRange):
    """A float flag that must be finite (click's ``FloatRange`` lets ``nan`` through), optionally bounded.

    >>> FiniteFloat(0, 1).convert("0.5", None, None)
    0.5
    >>> FiniteFloat().convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'nan' is not a finite number.
    """

    name = "float"

    def __init__(self, *args, why: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.why = why  # appended to an out-of-range message: why the range is what it is

    def convert(self, value, param, ctx):
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        try:
            return super().convert(rv, param, ctx)
        except click.BadParameter as exc:
            if not self.why:
                raise
            self.fail(f"{exc.message.rstrip('.')} ({self.why}).", param, ctx)

    def _describe_range(self) -> str:
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()

    def __repr__(self) -> str:
        return f"<FiniteFloat {self._describe_range() or 'x'}>"
