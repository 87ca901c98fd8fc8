"""The ``calib`` command group and the one boundary that maps outcomes to exit codes."""

from __future__ import annotations

import errno
import os
import sys

import click

from calibcli import __version__
from calibcli.errors import CalibError, ExitCode, Outcome

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """Imports each subcommand's module only when it is used (fast ``--help``)."""

    commands_by_module = {
        "audit": ("calibcli.cli.audit", "audit"),
        "fit": ("calibcli.cli.fit", "fit"),
        "apply": ("calibcli.cli.apply", "apply"),
        "config": ("calibcli.cli.config_cmd", "config"),
        "schema": ("calibcli.cli.schema_cmd", "schema"),
        "thresholds": ("calibcli.cli.thresholds", "thresholds"),
    }

    # one-line help shown by `calib --help`, so listing commands imports none of them
    command_summaries = {
        "audit": "Audit calibration: metrics, reliability, per-class table.",
        "fit": "Fit a post-hoc calibrator and save it as JSON.",
        "apply": "Apply a saved calibrator to prediction files.",
        "thresholds": "Recommend decision thresholds per class.",
        "config": "Show the effective settings and where each came from.",
        "schema": "Print the JSON Schema of the audit report.",
    }

    def list_commands(self, ctx):
        return sorted(self.commands_by_module)

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            text = self.command_summaries.get(name)
            if text is None:
                cmd = self.get_command(ctx, name)
                text = cmd.get_short_help_str(limit=formatter.width) if cmd else ""
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx, name):
        if name not in self.commands_by_module:
            return None
        import importlib

        module, attr = self.commands_by_module[name]
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="calib")
@click.option("--traceback", is_flag=True, help="Show the full traceback of an internal error.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, envvar="CALIB_CONFIG",
              help="Read settings from this TOML file ([tool.calib] of a pyproject.toml, or a calib.toml) instead of "
                   "the nearest one found from the working directory up. Env: CALIB_CONFIG.")
@click.option("--no-config", is_flag=True, help="Ignore config files (CALIB_* environment variables still apply).")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, config_path: str | None, no_config: bool) -> None:
    """Audit how well a classifier's scores can be read as probabilities.

    Exit codes: 0 done and no gate failed; 1 a gate failed; 2 usage, config or
    input error; 3 internal error; 130 interrupted.

    Settings come from flags, then CALIB_<KEY> environment variables, then
    [tool.calib] in pyproject.toml or calib.toml (see calib config).
    """
    help_requested = bool((ctx.obj or {}).get("help_requested"))
    ctx.obj = {"traceback": traceback}
    from calibcli.config import apply_config
    from calibcli.errors import ConfigError

    try:
        apply_config(ctx, config_path, not no_config)
    except ConfigError:
        if not help_requested:  # a broken config must not hide the help that explains how to fix it
            raise


def exit_status(outcome: Outcome | BaseException | None) -> int:
    """The one map from how a run ended to its exit status (DESIGN.md "Exit codes").

    A command that ran to the end returns an :class:`~calibcli.errors.Outcome`
    (``None``: nothing to report): a failed input is 2, else a failed gate 1,
    else 0. A run that ended in an exception: click's usage errors and calib's
    own errors 2, an interrupt 130, a full disk 2, a closed stdout pipe 0, --help
    and --version their own status, anything else 3 (a bug).

    >>> [int(exit_status(o)) for o in (Outcome(gate_failed=True), KeyboardInterrupt(), ValueError("bug"))]
    [1, 130, 3]
    """
    if outcome is None or isinstance(outcome, Outcome):
        o = outcome or Outcome()
        return ExitCode.USAGE if o.failed_inputs else ExitCode.GATE_FAILED if o.gate_failed else ExitCode.OK
    if isinstance(outcome, click.exceptions.Exit):
        return outcome.exit_code
    if isinstance(outcome, (click.exceptions.Abort, KeyboardInterrupt)):
        return ExitCode.INTERRUPTED
    if isinstance(outcome, click.ClickException):
        return ExitCode.USAGE
    if isinstance(outcome, CalibError):
        return outcome.exit_code
    if isinstance(outcome, BrokenPipeError):
        return ExitCode.OK
    if isinstance(outcome, OSError) and outcome.errno in _DISK_FULL:
        return ExitCode.USAGE
    return ExitCode.INTERNAL


def _check_kernels() -> None:
    """``CALIBCLI_KERNELS`` (see :mod:`calibcli.kernels`) must name a mode, and ``numba`` needs numba."""
    from calibcli import kernels
    from calibcli.errors import UsageError

    try:
        m = kernels.mode()
    except ValueError:
        raise UsageError(f"the environment variable CALIBCLI_KERNELS is {os.environ.get('CALIBCLI_KERNELS')!r}; it must be "
                         "auto (compiled kernels for large batches, the default), numba (always) or numpy (never). "
                         "Set one of these, or unset it.") from None
    if m == "numba" and not kernels.available():
        raise UsageError("CALIBCLI_KERNELS=numba, but numba cannot be imported. Install it (pip install numba), or set "
                         "CALIBCLI_KERNELS=auto to use numpy where numba is missing.")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, report how it ended, exit with :func:`exit_status`.

    This is the one boundary for errors: each kind is reported here (usage
    errors by click, calib's errors in one paragraph, interrupts, a full disk,
    anything else as a bug with a hint to rerun with ``--traceback``).

    Called as the process's entry point (``argv`` None: the ``calib`` script or
    ``python -m calibcli``), it lets numba skip its BLAS probe
    (:func:`calibcli.kernels.skip_blas_probe`) and ends the process with
    :func:`_end_process` once the status is known; given ``argv`` (tests,
    callers in Python) it raises ``SystemExit`` as usual.
    """
    if argv is None:  # the process is calib's: numba may skip a probe only Python callers' code could need
        from calibcli import kernels

        single_threaded_blas()
        kernels.skip_blas_probe()
    try:
        _main(argv)
    except SystemExit as exc:
        if argv is None:
            _end_process(exc.code)
        raise


BLAS_THREADS_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_blas() -> None:
    """One BLAS thread for this process (unless the environment already says how many), set before numpy loads.

    calib's passes run in threads of their own (``--threads``), and its matrix products are
    small (bootstrap replicates when a pass ends). A threaded BLAS starts a thread per core
    for them, and splits a product's sums by the number of cores: the same run then gave
    output differing in the last bits (5.6e-16 relative, 1e7 x 10 logits) on a machine with
    another core count. With one thread the output is the same on every machine.
    """
    if "numpy" in sys.modules:  # too late: the library has read it
        return
    for var in BLAS_THREADS_VARS:
        os.environ.setdefault(var, "1")


def _end_process(code: object) -> None:
    """End the process now with status ``code``, skipping the interpreter's teardown, when that is safe.

    After a run the interpreter would spend 0.2-0.3 s tearing down modules and
    collecting every object (numba's and scipy's many, the last batches) only to
    free memory the operating system frees anyway. This does what the teardown
    must still do (flush standard output and error, run the ``atexit`` handlers:
    ``weakref.finalize`` deletes temporary files such as a spilled stdin, logging
    flushes, Dask closes its clients) and calls ``os._exit(code)``.

    It returns (the caller ends the usual way) when the status is not an int, a
    non-daemon thread is still running (the interpreter would wait for it), a
    tracer or profiler is active (it reports at exit), or the flush fails (e.g. a
    closed pipe: the interpreter reports it as before).
    """
    import atexit
    import threading

    if not isinstance(code, int) and code is not None:
        return
    if sys.gettrace() is not None or sys.getprofile() is not None or not hasattr(atexit, "_run_exitfuncs"):
        return
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    try:
        _flush_std()
    except Exception:  # noqa: BLE001 - let the interpreter report it as it always did
        return
    atexit._run_exitfuncs()
    try:
        _flush_std()
    except Exception:  # noqa: BLE001 - as the interpreter: a failed final flush is status 120
        code = 120
    os._exit(int(code or 0))


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _main(argv: list[str] | None) -> None:
    args = sys.argv[1:] if argv is None else argv
    show_tb = "--traceback" in args
    try:
        help_requested = any(a in CONTEXT_SETTINGS["help_option_names"] for a in args)
        _check_kernels()
        rv = cli.main(args=args, prog_name="calib", standalone_mode=False, obj={"help_requested": help_requested})
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exit_status(exc))
    except click.ClickException as exc:  # usage errors
        exc.show()
        sys.exit(exit_status(exc))
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        click.echo("calib: interrupted", err=True)
        sys.exit(exit_status(exc))
    except CalibError as exc:
        click.echo(f"calib: error: {exc}", err=True)
        sys.exit(exit_status(exc))
    except BrokenPipeError as exc:  # the reader of stdout went away (calib ... | head)
        _detach_stdout()
        sys.exit(exit_status(exc))
    except OSError as exc:
        if exc.errno in _DISK_FULL and not show_tb:
            _detach_stdout()
            where = f" {exc.filename}" if exc.filename else " to standard output"
            click.echo(f"calib: error: cannot write{where}: {os.strerror(exc.errno)}. Free some space, or write the output "
                       "elsewhere.", err=True)
            sys.exit(exit_status(exc))
        _internal_error(exc, show_tb)
    except Exception as exc:  # noqa: BLE001 - the one boundary for unexpected errors
        _internal_error(exc, show_tb)
    sys.exit(exit_status(rv if isinstance(rv, Outcome) else None))


#: errors of a full disk or quota: the user's environment, not a bug
_DISK_FULL = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def _internal_error(exc: BaseException, show_tb: bool) -> None:
    if show_tb:
        raise exc
    click.echo(f"calib: internal error: {type(exc).__name__}: {exc}\nThis is a bug in calib. Rerun with --traceback "
               "(calib --traceback ...) and report the output.", err=True)
    sys.exit(exit_status(exc))


def _detach_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture it)
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass
