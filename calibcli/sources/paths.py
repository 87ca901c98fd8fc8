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


# Names of the files read from a directory of parts: the extensions of the formats calib reads (compressed
# variants too), and the extension-less parts Hadoop and Spark write (part-00000) and Dask's N.part.
DATA_EXTENSIONS = (".csv", ".tsv", ".tab", ".psv", ".parquet", ".pq", ".parq", ".arrow", ".feather", ".ipc",
                   ".arrows", ".jsonl", ".ndjson", ".npz", ".part")
COMPRESSED_EXTENSIONS = (".gz", ".bz2", ".zst", ".zstd")
DATA_NAMES = "*.csv, *.tsv, *.parquet, *.arrow, *.feather, *.jsonl, *.npz (also .gz, .bz2, .zst) and part-*"


def is_data_name(name: str) -> bool:
    """Whether a file name found in a directory of parts names data: a known data extension (optionally
    compressed) or a Hadoop/Spark/Dask part name. Not ``README.txt``, ``notes.md``, ``schema.json``.

    >>> [is_data_name(n) for n in ("part-00000", "0.part", "x.csv.gz", "y.snappy.parquet", "README.txt", "a.json")]
    [True, True, True, True, False, False]
    """
    lower = name.lower()
    for ext in COMPRESSED_EXTENSIONS:
        if lower.endswith(ext):
            lower = lower[: -len(ext)]
            break
    return lower.endswith(DATA_EXTENSIONS) or lower.startswith("part-")


def is_part_file(name: str) -> bool:
    """Whether a file found in a directory of parts holds data: not ``_SUCCESS``, ``_metadata``,
    hidden files or checksums, and named as data (:func:`is_data_name`).

    >>> [is_part_file(n) for n in ("part-0.parquet", "_SUCCESS", ".part-0.crc", "x.csv", "README.txt")]
    [True, False, False, True, False]
    """
    return not name.startswith(("_", ".")) and not name.endswith(".crc") and is_data_name(name)


def _directory_parts(path: str) -> tuple[list[str], str | None]:
    """The data files under a local directory (recursively, hidden folders skipped), in sorted order,
    and a note naming the files skipped because their names are not data names (None when there are none)."""
    found, other = [], []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for n in names:
            if n.startswith(("_", ".")) or n.endswith(".crc"):
                continue
            (found if is_data_name(n) else other).append(os.path.join(root, n))
    found.sort()
    other.sort()
    note = skipped_note(path, [os.path.relpath(o, path) for o in other], bool(found),
                        lambda name: os.path.join(path, name))
    return found, note


def skipped_note(where: str, other: list[str], any_found: bool, example) -> str | None:
    """The note on the files of a directory of parts skipped because their names are not data names
    (:func:`is_data_name`), or None when there are none; ``InputError`` when the directory holds no data.

    ``where`` names the directory, ``other`` are the skipped files' paths relative to it (sorted), and
    ``example(name)`` is the path of ``name`` in the directory, for the message's example.
    """
    shown = ", ".join(other[:5]) + (f", ... ({len(other)} in all)" if len(other) > 5 else "")
    if not any_found:
        if not other:
            raise InputError(f"{where}: the directory holds no data files (names starting with _ or . are skipped). "
                             f"Pass a directory of Parquet or CSV parts, or the files themselves, e.g. "
                             f"'{example('*.parquet')}'.")
        ext = os.path.splitext(other[0])[1]
        raise InputError(f"{where}: the directory holds no data files, only files not named as data ({shown}). Files in "
                         f"a directory are read when named {DATA_NAMES}. To read the files anyway, name them, e.g. "
                         f"'{example('*' + ext if ext else other[0])}'.")
    if not other:
        return None
    return (f"{where}: skipped {len(other)} file{'s' if len(other) > 1 else ''} not named as data ({shown}); "
            f"files in a directory are read when named {DATA_NAMES}. Pass a file by name to read it.")


def _file_url_path(url: str) -> str:
    """The local path of a file:// URL."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InputError(f"{url}: a file:// URL must name a local file (file:///path/to/file), not host '{parts.netloc}'.")
    return url2pathname(parts.path)


def _local_matches(pat: str, notes: list[str]) -> list[str]:
    if any(ch in pat for ch in "*?[") and not os.path.exists(pat):  # an existing file named in[1].csv is itself
        matches = sorted(glob.glob(pat, recursive=True))
        if not matches:
            raise InputError(f"{pat}: the pattern matches no file. Check the path and quote the pattern so the shell does not expand it.")
        return matches
    if not os.path.exists(pat):
        raise InputError(f"{pat}: no such file. Check the path (the working directory is {os.getcwd()}).")
    if os.path.isdir(pat):
        found, note = _directory_parts(pat)
        if note:
            notes.append(note)
        return found
    return [pat]


def expand_inputs(patterns: list[str] | tuple[str, ...], storage_options: tuple[tuple[str, str], ...] = ()) -> InputPaths:
    """Expand globs, directories of parts and URLs; keep order, read each file once; ``-`` stands for stdin.

    A file named twice, under the same or another spelling (``x.csv ./x.csv``, a
    symlink, a hard link, a glob that also matches it: the same device and inode),
    is kept once under its first spelling; each such repeat under another spelling
    adds a sentence to ``notes``. A pattern with glob characters that matches
    nothing is an error, as is a plain path that does not exist. A directory stands
    for the data files under it (sorted; ``_SUCCESS``, ``_metadata`` and hidden files
    skipped), as Spark, Dask and pyarrow write Parquet or CSV parts; only files named as data
    (:func:`is_data_name`) are read, the others (``README.txt``) skipped with a note.

    URLs: ``file://`` is a local path; s3://, gs://, az://, abfs:// and http(s)://
    become :class:`calibcli.sources.remote.RemoteURL` items (a ``str`` holding the
    redacted URL, safe to print; the real URL and ``storage_options`` are attributes).
    Globs and directories on buckets are listed through fsspec.

    Parameters
    ----------
    patterns : file names, globs, directories, URLs or ``-``.
    storage_options : (key, value) pairs for the filesystems of URLs (``--storage-option``).

    Returns
    -------
    InputPaths
        The files in order (a list of str) with ``notes``.

    Examples
    --------
    >>> expand_inputs(["-"])
    ['-']
    """
    from calibcli.sources.remote import RemoteURL, expand_url, scheme_of

    out = InputPaths()
    notes: list[str] = list(getattr(patterns, "notes", ()))
    seen: dict[object, str] = {}
    for pat in patterns:
        scheme = None if isinstance(pat, RemoteURL) else scheme_of(pat)
        if pat == STDIN and not isinstance(pat, RemoteURL):
            matches = [STDIN]
        elif isinstance(pat, RemoteURL):
            matches = [pat]
        elif scheme == "file":
            matches = _local_matches(_file_url_path(pat), notes)
        elif scheme is not None:
            matches = expand_url(pat, storage_options, notes)
        else:
            matches = _local_matches(pat, notes)
        for m in matches:
            key = ("url", m.url) if isinstance(m, RemoteURL) else STDIN if m == STDIN else _file_key(m)
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
