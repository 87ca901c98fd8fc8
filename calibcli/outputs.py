"""Writing output files safely: atomically, never over an input file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from calibcli.errors import UsageError


def check_not_input(path: str | os.PathLike, inputs: list[str] | tuple[str, ...], option: str) -> None:
    """Refuse an output path that is one of the input files."""
    target = Path(path)
    for f in inputs:
        if f == "-":
            continue
        try:
            if target.exists() and os.path.samefile(target, f):
                raise UsageError(f"{option} {path} is one of the input files; calib never overwrites its input. Choose another output path.")
        except FileNotFoundError:
            continue


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, then rename.

    A reader never sees a partial file, and a failure leaves no file behind.
    """
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
