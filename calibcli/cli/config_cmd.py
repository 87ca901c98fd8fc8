"""``calib config``: the effective settings and where each came from."""

from __future__ import annotations

import click


@click.command()
@click.argument("command", required=False, default="audit")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: one line per setting; json: an object per setting.")
@click.option("--set-only", is_flag=True, help="Only settings that come from the config file or the environment.")
@click.option("--schema", "show_schema", is_flag=True, help="Print the JSON Schema of the --format json output instead.")
@click.pass_context
def config(ctx, command, fmt, set_only, show_schema):
    """Show the effective settings of COMMAND (default: audit) and where each came from.

    Sources, strongest first: flags, CALIB_<KEY> environment variables (CALIB_MAX_ECE),
    the config file ([tool.calib] in pyproject.toml, or calib.toml, found from the
    working directory up; or calib --config PATH), then built-in defaults.

    \b
    Examples:
      calib config
      calib --config ci/calib.toml config --set-only
      CALIB_MAX_ECE=0.05 calib config --format json
      calib config --schema > calib-config.schema.json

    A relative path in a config file (md-out, json-out, plots, baseline, ...)
    is relative to the file's folder; the value shown is the path as seen from
    the working directory.
    """
    from calibcli.config import effective_settings
    from calibcli.errors import UsageError

    if show_schema:
        from calibcli.config import config_json_schema
        from calibcli.render.jsonout import dumps

        click.echo(dumps(config_json_schema()), nl=False)
        return

    group = ctx.parent.command
    root = ctx.find_root()
    target = group.get_command(root, command)
    if target is None or command in ("config", "schema"):
        names = [n for n in group.list_commands(root) if n not in ("config", "schema")]
        raise UsageError(f"no command '{command}' takes settings; choose one of {', '.join(names)}.")
    cfg = root.meta.get("calib.config")
    rows = effective_settings(cfg, target)
    if set_only:
        rows = [r for r in rows if r["source"] != "default"]
    if fmt == "json":
        from calibcli.render.jsonout import dumps

        click.echo(dumps({"config_file": cfg.path if cfg else None, "table": cfg.table if cfg else None,
                          "command": command, "settings": rows}), nl=False)
        return
    from rich.table import Table
    from rich.text import Text

    from calibcli.cli.consoles import out_console

    console = out_console()
    if cfg is not None and cfg.path:
        console.print(Text(f"config file: {cfg.path} ({cfg.table})"))
    else:
        console.print(Text("config file: none found (looked for calib.toml, or pyproject.toml with [tool.calib], from here up)"))
    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for r in rows:
        key = ("gate." if r["table"] == "gate" else "") + r["key"]
        style = "dim" if r["source"] == "default" else None
        table.add_row(Text(key, style=style), Text(_show(r["value"]), style=style), Text(r["origin"], style=style))
    console.print(table)


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(repr(v) for v in value) if value else "-"
    return str(value)
