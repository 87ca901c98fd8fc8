"""``calib schema``: print the JSON Schema of the audit report."""

from __future__ import annotations

import click


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the schema to this file instead of stdout.")
def schema(output):
    """Print the JSON Schema (draft 2020-12) of the report `calib audit --format json` writes.

    \b
    Examples:
      calib schema > calib-report.schema.json
      calib audit preds.csv --format json | check-jsonschema --schemafile calib-report.schema.json -
    """
    from calibcli.render.jsonout import dumps
    from calibcli.schema import report_schema

    text = dumps(report_schema())
    if output:
        from calibcli.outputs import write_atomic

        write_atomic(output, text, "-o")
    else:
        click.echo(text, nl=False)
