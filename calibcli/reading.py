"""Compatibility names for :mod:`calibcli.sources` (what ``calib apply`` and older code import).

``Source(name, encoding)`` is one input file (``-``: stdin, copied to a temporary
file) with ``format``, ``delimiter``, ``display``, ``column_names()`` and
``read(columns)`` (the whole table). Streaming code uses
:class:`calibcli.sources.files.InputFile` and :func:`calibcli.engine.streaming.open_source`.
"""

from __future__ import annotations

from calibcli.sources.files import InputFile
from calibcli.sources.paths import STDIN, STDIN_DISPLAY, InputPaths, Spill, expand_inputs
from calibcli.sources.sniffing import SUPPORTED, normalize_encoding, sniff_delimiter

__all__ = ["STDIN", "SUPPORTED", "InputPaths", "Source", "expand_inputs", "normalize_encoding", "sniff_delimiter"]


class Source(InputFile):
    """One input file read whole (``-`` reads stdin, spilled to a temporary file that lives as long as this object)."""

    def __init__(self, name: str, encoding: str = "utf-8"):
        self.name = name
        self._stdin_spill = None
        if name == STDIN:
            self._stdin_spill = Spill.of_stdin()
            super().__init__(self._stdin_spill.path, encoding, STDIN_DISPLAY)
        else:
            super().__init__(name, encoding)

    def read(self, columns: list[str] | None = None):
        """The table, restricted to ``columns`` when given; text columns decoded and checked."""
        return self.read_table(columns)
