"""Writing output files safely: checked before any work, staged, committed together.

A command builds one :class:`OutputSet` from every path it reads, plans every
output path before doing any work (so a bad path exits 2 at once), stages the
bytes of each output as the run produces them, and commits them together at the
end. The rules (DESIGN.md, "Outputs"):

- every output path is checked first (:class:`calibcli.output_paths.OutputPlan`: never
  a file the command reads, never two outputs to one file, a folder that can hold it);
- a regular file (or a symlink to one: the target is replaced, the link stays) is
  replaced by renaming a temporary file written next to it; a character device,
  FIFO or other non-regular file is opened and written through, never replaced;
- an output can also be streamed: :meth:`OutputSet.staged_path` gives a
  temporary file that a writer fills batch by batch, committed like the rest;
- an output can be a folder of parts (``calib apply --engine dask``):
  :meth:`OutputSet.staged_dir` gives a temporary folder next to it that writers
  (on any machine sharing the file system) fill; the commit renames it into
  place, replacing only a folder that holds nothing but Parquet parts;
- a failed or interrupted run (any exception, KeyboardInterrupt included) leaves
  no output file: staged temporary files are removed, and when a rename fails
  half-way the files already renamed are restored from backups.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass
from typing import Iterable

from calibcli.errors import UsageError
from calibcli.output_paths import (  # noqa: F401  (PlannedOutput, config_reads, check_not_input: re-exported)
    TMP_SUFFIX as _TMP_SUFFIX, OutputPlan, PlannedOutput, _identity, _reason, check_not_input, config_reads)

_BAK_SUFFIX = ".calib-bak"


@dataclass(frozen=True)
class _Staged:
    target: PlannedOutput
    tmp: str | None  # temporary file next to the target (regular targets)
    data: bytes | None  # bytes to write through (non-regular targets)
    spool: str | None = None  # temporary file whose bytes are written through (streamed non-regular targets)
    folder: bool = False  # ``tmp`` is a temporary folder (a folder of parts)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputSet(OutputPlan):
    """Every output file of one run: planned up front (:class:`OutputPlan`), staged, committed together.

    Parameters
    ----------
    reads : ``(what, path)`` pairs for every file the command reads, as for
        :class:`calibcli.output_paths.OutputPlan`.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with OutputSet([("one of the input files", os.path.join(folder, "in.csv"))]) as out:
    ...     _ = out.plan("--json-out", os.path.join(folder, "report.json"))
    ...     out.add("--json-out", os.path.join(folder, "report.json"), b"{}")
    ...     out.commit()
    []
    >>> sorted(os.listdir(folder))
    ['report.json']
    """

    def __init__(self, reads: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(reads)
        self._staged: list[_Staged] = []
        self._appends: list[tuple[str, str, str]] = []
        self._made_dirs: list[str] = []
        self._committed = False
        self._mask = _umask()

    # -- context manager: anything but a commit discards ------------------------------------
    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.discard()

    # -- staging --------------------------------------------------------------------------------
    def add(self, option: str, path: str | os.PathLike, data: bytes | str) -> None:
        """Stage ``data`` for ``path`` (checked again, as by :meth:`plan`); nothing is visible before :meth:`commit`.

        A regular target gets a temporary file in its own folder (created if
        missing); a non-regular one keeps the bytes until the commit writes them.
        Write errors are ``UsageError`` naming the option and path.
        """
        target = self.plan(option, path)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if target.through:
            self._staged.append(_Staged(target, None, payload))
            return
        fd, _ = self._temp_next_to(option, target)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
        except OSError as exc:
            raise UsageError(f"{option} {target.path}: cannot write ({_reason(exc)}). Choose a path you can write to.") from None

    def staged_path(self, option: str, path: str | os.PathLike) -> str:
        """A temporary file for a writer to fill incrementally; it becomes ``path`` at :meth:`commit`.

        For a regular target it lies in the target's own folder (created if
        missing; the permissions a replaced file had, else the usual ones) and is
        renamed into place; for a device, FIFO or open descriptor it lies in the
        system's temporary folder and its bytes are written through at the commit
        (so a failed run writes nothing there). On any error or interrupt before the
        commit the file is removed. Write to the returned path (open it ``"wb"``);
        close it before :meth:`commit`.

        Returns
        -------
        str
            The path to write.
        """
        target = self.plan(option, path)
        if target.through:
            try:
                fd, tmp = tempfile.mkstemp(prefix=".calib-through.", suffix=_TMP_SUFFIX)
            except OSError as exc:
                raise UsageError(f"{option} {target.path}: cannot write ({_reason(exc)}). Choose a path you can write to.") from None
            os.close(fd)
            self._staged.append(_Staged(target, None, None, tmp))
            return tmp
        fd, tmp = self._temp_next_to(option, target)
        os.close(fd)
        return tmp

    def _temp_next_to(self, option: str, target: PlannedOutput) -> tuple[int, str]:
        """A staged temporary file in the (regular) target's folder, made if missing: ``(open descriptor, path)``.

        It has the permissions a replaced file had, else the usual ones (mkstemp makes 0600).
        """
        folder = os.path.dirname(target.real) or "."
        try:
            self._makedirs(folder)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target.real)}.", suffix=_TMP_SUFFIX, dir=folder)
        except OSError as exc:
            raise UsageError(f"{option} {target.path}: cannot write ({_reason(exc)}). Choose a path you can write to.") from None
        self._staged.append(_Staged(target, tmp, None))
        try:
            try:
                mode = stat.S_IMODE(os.stat(target.real).st_mode)  # keep a replaced file's permissions
            except OSError:
                mode = 0o666 & ~self._mask
            os.fchmod(fd, mode)
        except OSError as exc:
            os.close(fd)
            raise UsageError(f"{option} {target.path}: cannot write ({_reason(exc)}). Choose a path you can write to.") from None
        return fd, tmp

    def staged_dir(self, option: str, path: str | os.PathLike) -> str:
        """A temporary folder (next to ``path``) for writers to fill; it becomes the folder ``path`` at :meth:`commit`.

        On any error or interrupt before the commit the folder and its files are removed.

        Returns
        -------
        str
            The folder to write into.
        """
        target = self.plan_dir(option, path)
        parent = os.path.dirname(target.real.rstrip(os.sep)) or "."
        try:
            self._makedirs(parent)
            tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target.real)}.", suffix=_TMP_SUFFIX, dir=parent)
            self._staged.append(_Staged(target, tmp, None, folder=True))
            os.chmod(tmp, 0o777 & ~self._mask)
        except OSError as exc:
            raise UsageError(f"{option} {target.path}: cannot write ({_reason(exc)}). Choose a path you can write to.") from None
        return tmp

    def append(self, what: str, path: str, text: str) -> None:
        """Append ``text`` to ``path`` at commit time, best effort (the CI job summary).

        A failure is not an error of the run: :meth:`commit` returns a warning
        saying the text was not written. The file is never one the command
        reads nor one of its outputs.
        """
        self._appends.append((what, path, text))

    def _makedirs(self, folder: str) -> None:
        missing = []
        while not os.path.lexists(folder):
            missing.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for d in reversed(missing):
            os.mkdir(d)
            self._made_dirs.append(d)

    # -- commit and discard ---------------------------------------------------------------------
    def commit(self) -> list[str]:
        """Make every staged output visible together; return warnings (appends that failed).

        Renames come first (undone from backups if one fails), then the
        writes through to devices and pipes, then the appends. On any error or
        interrupt nothing staged is left behind and the error propagates
        (``OSError`` as ``UsageError`` naming the output).
        """
        renamed: list[tuple[str, str | None]] = []
        current: _Staged | None = None
        try:
            for s in self._staged:
                if s.tmp is None:
                    continue
                current = s
                # recorded before the rename, so an interrupt right after it is undone too
                # (restoring the backup of a file not yet replaced only puts the same file back)
                renamed.append((s.target.real, self._backup(s.target.real, s.folder)))
                os.replace(s.tmp, s.target.real)
            for s in self._staged:
                if s.data is None and s.spool is None:
                    continue
                current = s
                with open(s.target.real, "ab") as fh:  # append: an fd opened with >> keeps what it holds
                    if s.data is not None:
                        fh.write(s.data)
                    else:
                        with open(s.spool, "rb") as src:
                            shutil.copyfileobj(src, fh, 1 << 20)
        except BaseException as exc:
            for real, backup in reversed(renamed):
                try:
                    if os.path.isdir(real) and not os.path.islink(real):
                        shutil.rmtree(real)  # a folder output renamed into place (an old folder, moved aside, comes back)
                    if backup is not None:
                        os.replace(backup, real)
                    elif os.path.lexists(real):
                        os.unlink(real)
                except OSError:
                    pass
            self.discard()
            if isinstance(exc, OSError) and current is not None:
                t = current.target
                raise UsageError(f"{t.option} {t.path}: cannot write ({_reason(exc)}); no output file was written. "
                                 "Choose a path you can write to.") from None
            raise
        for _, backup in renamed:
            if backup is not None:
                _remove(backup)
        for s in self._staged:
            if s.spool is not None:
                _unlink(s.spool)
        self._committed = True
        self._staged = []
        return self._run_appends()

    def _backup(self, real: str, folder_output: bool = False) -> str | None:
        """A hard link (or copy) of an existing file about to be replaced, for a rollback; an existing
        folder about to be replaced by a folder output is moved aside."""
        folder, name = os.path.split(real)
        backup = os.path.join(folder, f".{name}.{secrets.token_hex(6)}{_BAK_SUFFIX}")
        if folder_output and os.path.isdir(real):
            os.replace(real, backup)
            return backup
        if not os.path.isfile(real):
            return None
        try:
            os.link(real, backup)
        except OSError:
            shutil.copy2(real, backup)
        return backup

    def _run_appends(self) -> list[str]:
        warnings = []
        outputs = {_identity(p.real) for p in self._planned.values()}
        for what, path, text in self._appends:
            ident = _identity(path)
            if ident is not None and (ident in self._reads or ident in outputs):
                role = self._reads[ident][0] if ident in self._reads else "one of the output files"
                warnings.append(f"{what} {path} is {role}; the job summary was not appended to it.")
                continue
            try:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                warnings.append(f"{what} {path}: cannot append the job summary ({_reason(exc)}); it was not written.")
        return warnings

    def discard(self) -> None:
        """Remove every staged temporary file and every folder made for them."""
        for s in self._staged:
            for tmp in (s.tmp, s.spool):
                if tmp is not None:
                    _remove(tmp)
        self._staged = []
        for d in reversed(self._made_dirs):
            try:
                os.rmdir(d)
            except OSError:
                pass
        self._made_dirs = []


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _remove(path: str) -> None:
    """Remove a file, or a folder with its files (a staged or backed-up folder of parts)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)


def write_atomic(path: str | os.PathLike, data: bytes | str, option: str = "output") -> None:
    """Write one output file safely (see :class:`OutputSet`): renamed into place, or written through to a device or pipe.

    A reader never sees a partial file, and a failure leaves no file behind.
    """
    with OutputSet() as out:
        out.add(option, path, data)
        out.commit()
