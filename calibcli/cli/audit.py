"""``calib audit``: read, validate, measure, report."""

from __future__ import annotations

import click

from calibcli.cli.consoles import err_console, out_console
from calibcli.cli.options import binning_options, input_options
from calibcli.errors import ExitCode


@click.command()
@click.argument("files", nargs=-1, required=True)
@input_options
@binning_options
@click.option("--per-file", is_flag=True, help="One report per file instead of pooling all files into one audit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: rich report on stdout; json: only JSON on stdout.")
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON report to this file.")
@click.option("--max-classes", type=click.IntRange(0), default=20, show_default=True, help="Rows of the per-class table (worst first).")
@click.option("-q", "--quiet", is_flag=True, help="No terminal report (files are still written).")
def audit(files, load_options, n_bins, strategy, per_file, fmt, json_out, max_classes, quiet):
    """Audit the calibration of predictions in FILES (CSV, CSV.gz, Parquet, '-' for stdin).

    Several files or globs are pooled into one audit unless --per-file.

    \b
    Examples:
      calib audit preds.parquet
      calib audit 'runs/*.csv' --per-file --format json
      calib audit preds.csv --json-out report.json --bins 10
    """
    from calibcli.audit import build_audit
    from calibcli.loading import load_predictions
    from calibcli.outputs import check_not_input, write_atomic
    from calibcli.reading import expand_inputs
    from calibcli.render.jsonout import render_json

    paths = expand_inputs(files)
    if json_out:
        check_not_input(json_out, paths, "--json-out")
    groups = [[p] for p in paths] if per_file else [paths]
    reports = [build_audit(load_predictions(g, load_options), n_bins, strategy) for g in groups]

    text = render_json(reports, per_file) if (fmt == "json" or json_out) else None
    if json_out:
        write_atomic(json_out, text)
    if fmt == "json":
        click.echo(text, nl=False)
    elif not quiet:
        from calibcli.render.terminal import render_audit

        console = out_console()
        for i, r in enumerate(reports):
            if i:
                console.rule()
            console.print(render_audit(r, max_classes))
    if json_out and not quiet:
        err_console().print(f"wrote {json_out}")
    return ExitCode.OK
