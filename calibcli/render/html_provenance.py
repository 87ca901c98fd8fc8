"""Provenance of an HTML report: the input files (size, SHA-256) and the command that made it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileRecord:
    """One input file for the provenance section: its name as given, size in bytes and SHA-256
    (``None`` for standard input, URLs and data held in memory; ``note`` says which)."""

    name: str
    size: int | None = None
    sha256: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a report came from: the input files, the command (or Python call) and the tool version."""

    files: tuple[FileRecord, ...] = ()
    command: str = ""


def file_records(paths: Iterable[str]) -> tuple[FileRecord, ...]:
    """Size and SHA-256 of each local input file, read in 1 MiB chunks (never whole into memory).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> r = file_records([fh.name])[0]; os.unlink(fh.name)
    >>> r.size, r.sha256[:16]
    (3, 'ba7816bf8f01cfea')
    >>> file_records(["-"])[0].note
    'standard input (not hashed)'
    """
    out = []
    for p in paths:
        if p == "-":
            out.append(FileRecord(p, note="standard input (not hashed)"))
            continue
        if "://" in p:
            out.append(FileRecord(p, note="remote (not hashed)"))
            continue
        try:
            digest = hashlib.sha256()
            size = 0
            with open(p, "rb") as fh:
                while chunk := fh.read(HASH_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            out.append(FileRecord(p, note=f"not hashed ({exc.strerror or exc})"))
            continue
        out.append(FileRecord(p, size, digest.hexdigest()))
    return tuple(out)
