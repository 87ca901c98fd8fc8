"""``calib audit``: read, validate, measure, (calibrate, recommend thresholds, gate), report.

Each optional stage lives in its own hook module (``audit_calibration``,
``audit_thresholds``, ``audit_gate``, ``audit_plots``) with its own options, so
this command stays a short pipeline.
"""

from __future__ import annotations

import click

from calibcli.cli import audit_calibration, audit_gate, audit_plots, audit_thresholds
from calibcli.cli.consoles import err_console, out_console
from calibcli.cli.options import binning_options, input_options


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
@audit_calibration.options
@audit_thresholds.options
@audit_gate.options
@audit_plots.options
def audit(files, **opts):
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
    json_out, fmt, quiet = opts["json_out"], opts["fmt"], opts["quiet"]
    if json_out:
        check_not_input(json_out, paths, "--json-out")
    groups = [[p] for p in paths] if opts["per_file"] else [paths]
    reports = []
    for group in groups:
        loaded = load_predictions(group, opts["load_options"])
        report = build_audit(loaded, opts["n_bins"], opts["strategy"])
        report = audit_calibration.attach(report, loaded, opts)
        report = audit_thresholds.attach(report, loaded, opts)
        report = audit_gate.attach(report, loaded, opts)
        reports.append(report)

    text = render_json(reports, opts["per_file"]) if (fmt == "json" or json_out) else None
    if json_out:
        write_atomic(json_out, text)
    audit_gate.write_outputs(reports, opts, paths)
    audit_plots.write_outputs(reports, opts, paths)
    if fmt == "json":
        click.echo(text, nl=False)
    elif not quiet:
        from calibcli.render.terminal import render_audit

        console = out_console()
        for i, r in enumerate(reports):
            if i:
                console.rule()
            console.print(render_audit(r, opts["max_classes"]))
    if json_out and not quiet:
        err_console().print(f"wrote {json_out}")
    return audit_gate.exit_code(reports, opts)
