"""Which inputs to read: globs expanded, each file once, ``-`` for stdin (spilled to a temporary file).

Standard input can be read only once, but a source is read once per pass, so
:class:`Spill` copies it (in chunks of ``SPILL_CHUNK`` bytes: bounded memory) to a
temporary file that every pass then reads like any other file; the file is deleted
when the source is closed (or, at the latest, when the process exits).
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import weakref

from calibcli.errors import InputError
from calibcli.sources.sniffing import SUPPORTED

STDIN = "-"
STDIN_DISPLAY = "<stdin>"
SPILL_CHUNK = 1 << 20


class InputPaths(list):
    """The expanded input paths (a ``list`` of ``str``) and notes on what was merged.

    ``notes`` holds one sentence per input that named a file already given under
    another spelling (read once), for the caller to show as a warning.
    """

    notes: tuple[str, ...] = ()


def _file_key(path: str) -> tuple[int, int] | str:
    try:
        st = os.stat(path)
    except OSError:
        return os.path.abspath(path)
    return (st.st_dev, st.st_ino)


def expand_inputs(patterns: list[str] | tuple[str, ...]) -> InputPaths:
    """Expand globs, keep order, read each file once; ``-`` stands for stdin.

    A file named twice, under the same or another spelling (``x.csv ./x.csv``, a
    symlink, a hard link, a glob that also matches it: the same device and inode),
    is kept once under its first spelling; each such repeat under another spelling
    adds a sentence to ``notes``. A pattern with glob characters that matches
    nothing is an error, as is a plain path that does not exist.

    Parameters
    ----------
    patterns : file names, globs or ``-``.

    Returns
    -------
    InputPaths
        The files in order (a list of str) with ``notes``.

    Examples
    --------
    >>> expand_inputs(["-"])
    ['-']
    """
    out = InputPaths()
    notes: list[str] = list(getattr(patterns, "notes", ()))
    seen: dict[tuple[int, int] | str, str] = {}
    for pat in patterns:
        if pat == STDIN:
            matches = [STDIN]
        elif any(ch in pat for ch in "*?[") and not os.path.exists(pat):  # an existing file named in[1].csv is itself
            matches = sorted(glob.glob(pat, recursive=True))
            if not matches:
                raise InputError(f"{pat}: the pattern matches no file. Check the path and quote the pattern so the shell does not expand it.")
        else:
            if not os.path.exists(pat):
                raise InputError(f"{pat}: no such file. Check the path (the working directory is {os.getcwd()}).")
            if os.path.isdir(pat):
                raise InputError(f"{pat}: is a directory, not a prediction file. Pass the files inside it, e.g. '{os.path.join(pat, '*.parquet')}'.")
            matches = [pat]
        for m in matches:
            key = STDIN if m == STDIN else _file_key(m)
            first = seen.get(key)
            if first is None:
                seen[key] = m
                out.append(m)
            elif first != m:
                notes.append(f"{m} is the same file as {first} (same device and inode); it is read once")
    if not out:
        raise InputError(f"no input files given. Pass one or more prediction files ({SUPPORTED}), or '-' for stdin.")
    out.notes = tuple(dict.fromkeys(notes))
    return out


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Spill:
    """A temporary file holding bytes that can be read only once (stdin) or only whole
    (a compressed Parquet file), so that every pass can read them again.

    ``path`` is the file; :meth:`close` deletes it (also done when the object is
    garbage-collected or the process exits).
    """

    def __init__(self, suffix: str = ".spill"):
        fd, self.path = tempfile.mkstemp(prefix="calib-", suffix=suffix)
        self._fh = os.fdopen(fd, "wb")
        self._finalizer = weakref.finalize(self, _remove, self.path)
        self.size = 0

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self.size += len(data)

    def finish(self) -> str:
        """Close the file for writing; returns its path."""
        self._fh.close()
        return self.path

    def close(self) -> None:
        """Delete the file."""
        if not self._fh.closed:
            self._fh.close()
        self._finalizer()

    @classmethod
    def of_stdin(cls) -> "Spill":
        """Standard input copied to a temporary file, ``SPILL_CHUNK`` bytes at a time."""
        spill = cls(".stdin")
        stream = getattr(sys.stdin, "buffer", None)
        try:
            while True:
                chunk = stream.read(SPILL_CHUNK) if stream is not None else sys.stdin.read(SPILL_CHUNK).encode()
                if not chunk:
                    break
                spill.write(chunk)
        except OSError as exc:
            spill.close()
            raise InputError(f"{STDIN_DISPLAY}: cannot read standard input ({exc.strerror or exc}).") from None
        except BaseException:
            spill.close()
            raise
        spill.finish()
        return spill

    @classmethod
    def of_stream(cls, stream, suffix: str = ".spill") -> "Spill":
        """The bytes of a pyarrow input stream (e.g. decompressed data) in a temporary file."""
        spill = cls(suffix)
        try:
            while True:
                chunk = stream.read(SPILL_CHUNK)
                if not chunk:
                    break
                spill.write(bytes(chunk))
        except BaseException:
            spill.close()
            raise
        spill.finish()
        return spill
