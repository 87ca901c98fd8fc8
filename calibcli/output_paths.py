"""Checking output paths before any work: the rules an output path must meet, and the plan of a run's outputs.

:class:`OutputPlan` holds every path a command reads and every output it plans
(:class:`calibcli.outputs.OutputSet` adds the staging and the commit). The rules
(DESIGN.md, "Outputs"):

- an output never names a file the command reads (any spelling, symlink or hard
  link: files are compared by device and inode), and two outputs never name the
  same file;
- an output whose folder cannot hold it (a missing folder that cannot be created,
  a parent that is a file, a read-only or virtual file system such as /proc) is a
  usage error naming the path and the option;
- an existing character device, FIFO or open file descriptor (``/dev/stdout``) is
  planned to be written through, never replaced; a socket is refused;
- an output folder of parts replaces only a folder that holds nothing but Parquet parts.
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import Iterable

from calibcli.errors import UsageError

TMP_SUFFIX = ".calib-tmp"


@dataclass(frozen=True)
class PlannedOutput:
    """One output path, checked.

    Attributes
    ----------
    option : the option that named it (``--json-out``, ``-o``, ...), for messages.
    path : the path as given.
    real : where the bytes go: every symlink resolved for a file that is renamed into place; the
        path as given for one written through.
    through : True for an existing non-regular file (device, FIFO) or an open file descriptor
        (``/dev/stdout``, ``/dev/fd/N``): written through, never renamed over.
    """

    option: str
    path: str
    real: str
    through: bool


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (symlinks followed), or None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _expand(pattern: str) -> list[str]:
    """The files a read pattern names (globs expanded; nothing for stdin or a missing file)."""
    if not pattern or pattern == "-":
        return []
    if any(ch in pattern for ch in "*?[") and not os.path.lexists(pattern):  # a file named in[1].csv is itself
        return sorted(glob.glob(pattern, recursive=True))
    return [pattern]


def _probe_dir(folder: str) -> OSError | None:
    """Create and remove a temporary file in ``folder``: None if that works, else the error.

    More reliable than ``os.access`` (which says yes to root, and on /proc).
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=".calib-probe.", suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass
    return None


def _via_proc(path: str) -> bool:
    """Whether ``path`` leads through /proc (``/dev/stdout``, ``/dev/fd/N``: an open file descriptor).

    Such a path names whatever the descriptor is open on (a terminal, a pipe, or
    a file the shell opened with ``>`` or ``>>``); it is written through, never
    renamed over.
    """
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlinks in a path
        parent = os.path.realpath(os.path.dirname(p))
        p = os.path.join(parent, os.path.basename(p))
        if p == "/proc" or p.startswith("/proc/"):
            return True
        if not os.path.islink(p):
            return False
        p = os.path.join(parent, os.readlink(p))
    return False


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class OutputPlan:
    """Every file a run reads and every output path it plans, checked before any work.

    Parameters
    ----------
    reads : ``(what, path)`` pairs for every file the command reads, e.g.
        ``("one of the input files", "preds.csv")``, ``("the --baseline file", "old.csv")``,
        ``("the config file", "pyproject.toml")``. Globs are expanded; ``-`` and
        missing files are skipped (reading them fails later with its own message).
    """

    def __init__(self, reads: Iterable[tuple[str, str]] = ()) -> None:
        self._reads: dict[tuple[int, int], tuple[str, str]] = {}
        for what, pattern in reads:
            for path in _expand(str(pattern)):
                ident = _identity(path)
                if ident is not None and ident not in self._reads:
                    self._reads[ident] = (what, path)
        self._planned: dict[object, PlannedOutput] = {}

    def plan(self, option: str, path: str | os.PathLike) -> PlannedOutput:
        """Check one output path before any work; ``UsageError`` (exit 2) says why it cannot be written.

        Parameters
        ----------
        option : the option naming it, for messages.
        path : the output path as given.

        Returns
        -------
        PlannedOutput
        """
        path = os.fspath(path)
        if not path:
            raise UsageError(f"{option}: the output path is empty. Give a file name.")
        from calibcli.sources.remote import redact, scheme_of

        if scheme_of(path):
            raise UsageError(f"{option} {redact(path)}: outputs are written to local files, not to URLs. "
                             "Write a local file, then copy it (e.g. aws s3 cp, gcloud storage cp, azcopy).")
        real = os.path.realpath(path)
        st = None
        try:
            st = os.stat(path)  # follows symlinks, and the kernel's /dev/stdout -> /proc/self/fd/1 links
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot use this path ({_reason(exc)}). Choose a path you can write to.") from None
        if st is not None:
            ident = (st.st_dev, st.st_ino)
            if ident in self._reads:
                what, read = self._reads[ident]
                same = "" if os.path.abspath(read) == os.path.abspath(path) else f" ({read})"
                raise UsageError(f"{option} {path} is {what}{same}; calib never overwrites its input. "
                                 "Choose another output path.")
            if stat.S_ISDIR(st.st_mode):
                raise UsageError(f"{option} {path} is a folder. Give a file name.")
            # a device, a FIFO, or an open file descriptor (/dev/stdout, /dev/fd/N): write through what was given
            through = not stat.S_ISREG(st.st_mode) or _via_proc(path)
            if through:
                real = path
                if stat.S_ISSOCK(st.st_mode):
                    raise UsageError(f"{option} {path} is a socket; calib writes files, devices and pipes only. Choose another path.")
                if not os.access(path, os.W_OK):
                    raise UsageError(f"{option} {path}: permission denied. Choose a path you can write to.")
            else:
                if not os.access(real, os.W_OK):
                    raise UsageError(f"{option} {path} is read-only. Choose another path, or make it writable.")
                self._check_folder(option, path, os.path.dirname(real))
            key: object = ident
        else:
            through = False
            self._check_folder(option, path, os.path.dirname(real))
            key = ("path", real)
        planned = PlannedOutput(option, path, real, through)
        other = self._planned.get(key)
        if other is not None and not through and (other.option, other.path) != (option, path):
            same = other.option if other.path == path else f"{other.option} {other.path}"
            raise UsageError(f"{option} {path} and {same} name the same file. Give each output its own file.")
        self._planned.setdefault(key, planned)
        return planned

    @staticmethod
    def _check_folder(option: str, path: str, folder: str) -> None:
        """The folder that will hold ``path`` exists or can be created, and takes new files."""
        folder = folder or "."
        existing = folder
        while not os.path.lexists(existing):
            parent = os.path.dirname(existing)
            if parent == existing:
                break
            existing = parent
        if not os.path.isdir(existing):
            raise UsageError(f"{option} {path}: {existing} is a file, not a folder, so it cannot hold the output. "
                             "Choose another path.")
        error = _probe_dir(existing)
        if error is not None:
            what = f"cannot write in {existing}" if existing == folder else f"cannot create the folder {folder} in {existing}"
            raise UsageError(f"{option} {path}: {what} ({_reason(error)}). Choose a folder you can write to.")


    def plan_dir(self, option: str, path: str | os.PathLike) -> PlannedOutput:
        """Check an output folder of parts before any work (``UsageError`` says why it cannot be written).

        An existing folder is replaced only when it holds nothing but ``*.parquet``
        parts (what an earlier run wrote) and none of them is read by this command.
        """
        path = os.fspath(path)
        if not path:
            raise UsageError(f"{option}: the output path is empty. Give a folder name.")
        real = os.path.realpath(path)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise UsageError(f"{option} {path} is a file; this output is a folder of Parquet parts. Choose a folder name.")
        if os.path.isdir(path):
            try:
                entries = os.listdir(path)
            except OSError as exc:
                raise UsageError(f"{option} {path}: cannot use this folder ({_reason(exc)}). Choose another path.") from None
            for e in entries:
                ident = _identity(os.path.join(path, e))
                if ident in self._reads:
                    what, read = self._reads[ident]
                    raise UsageError(f"{option} {path} holds {what} ({read}); calib never overwrites its input. "
                                     "Choose another output folder.")
            other = [e for e in entries if not (e.endswith(".parquet") and os.path.isfile(os.path.join(path, e)))]
            if other:
                raise UsageError(f"{option} {path} is a folder holding other files than Parquet parts ({', '.join(sorted(other)[:3])}); "
                                 "calib replaces only a folder of parts it wrote. Choose a new folder name.")
            if not os.access(real, os.W_OK):
                raise UsageError(f"{option} {path} is read-only. Choose another path, or make it writable.")
        for ident, (what, read) in self._reads.items():
            if os.path.realpath(read) == real:
                raise UsageError(f"{option} {path} is {what}; calib never overwrites its input. Choose another output folder.")
        self._check_folder(option, path, os.path.dirname(real.rstrip(os.sep)))
        planned = PlannedOutput(option, path, real, False)
        key = ("path", real)
        other_plan = self._planned.get(key)
        if other_plan is not None and (other_plan.option, other_plan.path) != (option, path):
            raise UsageError(f"{option} {path} and {other_plan.option} {other_plan.path} name the same path. Give each output its own path.")
        self._planned.setdefault(key, planned)
        return planned


def config_reads() -> list[tuple[str, str]]:
    """``("the config file", path)`` for the config file the current click command read, if any."""
    try:
        import click

        ctx = click.get_current_context(silent=True)
    except ImportError:  # pragma: no cover - click is a dependency
        return []
    config = ctx.meta.get("calib.config") if ctx is not None else None
    path = getattr(config, "path", None)
    return [("the config file", str(path))] if path else []


def check_not_input(path: str | os.PathLike, inputs: list[str] | tuple[str, ...], option: str) -> None:
    """Refuse an output path that is one of the input files (same file by device and inode)."""
    ident = _identity(os.fspath(path))
    if ident is None:
        return
    for f in inputs:
        for p in _expand(str(f)):
            if _identity(p) == ident:
                raise UsageError(f"{option} {path} is one of the input files; calib never overwrites its input. "
                                 "Choose another output path.")


