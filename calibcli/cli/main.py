"""The ``calib`` command group and the one boundary that maps outcomes to exit codes."""

from __future__ import annotations

import sys

import click

from calibcli import __version__
from calibcli.errors import CalibError, ExitCode

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """Imports each subcommand's module only when it is used (fast ``--help``)."""

    commands_by_module = {
        "audit": ("calibcli.cli.audit", "audit"),
    }

    def list_commands(self, ctx):
        return sorted(self.commands_by_module)

    def get_command(self, ctx, name):
        if name not in self.commands_by_module:
            return None
        import importlib

        module, attr = self.commands_by_module[name]
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="calib")
@click.option("--traceback", is_flag=True, help="Show the full traceback of an internal error.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Audit how well a classifier's scores can be read as probabilities.

    Exit codes: 0 done and no gate failed; 1 a gate failed; 2 usage, config or
    input error; 3 internal error; 130 interrupted.
    """
    ctx.obj = {"traceback": traceback}


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and exit with a meaningful status."""
    args = sys.argv[1:] if argv is None else argv
    show_tb = "--traceback" in args
    try:
        rv = cli.main(args=args, prog_name="calib", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors
        exc.show()
        sys.exit(ExitCode.USAGE)
    except click.exceptions.Abort:
        click.echo("calib: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("calib: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except CalibError as exc:
        click.echo(f"calib: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(ExitCode.OK)
    except Exception as exc:  # noqa: BLE001 - the one boundary for unexpected errors
        if show_tb:
            raise
        click.echo(f"calib: internal error: {type(exc).__name__}: {exc}\nThis is a bug in calib. Rerun with --traceback (calib --traceback ...) and report the output.", err=True)
        sys.exit(ExitCode.INTERNAL)
    sys.exit(int(rv) if isinstance(rv, int) else ExitCode.OK)
