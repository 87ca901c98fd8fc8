"""``calib audit``: parse the options, run the library's audit pipeline, write and print the reports.

The numbers come from :func:`calibcli.pipeline.run_audit` (the same function as
``calibcli.audit(...)``); each hook module (``audit_calibration``, ``audit_thresholds``,
``audit_gate``, ``audit_groups``, ``audit_statistics``, ``audit_compare``, ``audit_plots``,
``audit_html``) holds one feature's click options, output planning and writing, and printing.
"""

from __future__ import annotations

import click

from calibcli.cli import (audit_calibration, audit_compare, audit_gate, audit_groups, audit_html, audit_plots,
                          audit_statistics, audit_thresholds)
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
@audit_html.options
@audit_groups.options
@audit_statistics.options
@audit_compare.options
def audit(files, **opts):
    """Audit the calibration of predictions in FILES (CSV/TSV, Parquet, Arrow/Feather, JSON Lines, .npz; '-' for stdin).

    Several files or globs are pooled into one audit unless --per-file.

    \b
    Examples:
      calib audit preds.parquet
      calib audit 'runs/*.csv' --per-file --format json
      calib audit preds.csv --json-out report.json --bins 10
    """
    from calibcli.jobs import run_jobs
    from calibcli.outputs import OutputSet
    from calibcli.reading import expand_inputs
    from calibcli.render.jsonout import render_json

    paths = expand_inputs(files, opts["load_options"].engine.storage_options)
    json_out, fmt, quiet = opts["json_out"], opts["fmt"], opts["quiet"]
    with OutputSet(_reads(paths, opts)) as out:
        # every output path is checked before any work; all are written together at the end
        if json_out:
            out.plan("--json-out", json_out)
        g = opts.get("gate")
        for option, path in (("--md-out", g.md_out if g else None), ("--junit-out", g.junit_out if g else None)):
            if path:
                out.plan(option, path)
        compare = audit_compare.plan(paths, opts)  # the audits to run: pooled, per file, per model (--models)
        plot_folders = audit_plots.plan_outputs(*audit_compare.plot_args(compare, opts, paths), out)
        audit_groups.plan_outputs(opts, plot_folders, out)
        audit_statistics.plan_outputs(opts, plot_folders, out)
        audit_html.plan_outputs(opts, out)

        for note in paths.notes if opts["per_file"] else ():  # pooled runs report them in LoadedInput.warnings
            err_console().print(f"warning: {note}", style="yellow", highlight=False, markup=False)
        settings = audit_settings(opts)  # the options as typed settings of the library's pipeline
        # each job streamed (bounded memory); --models: the model's columns (also for --fit-on, --baseline) and
        # the row-keyed bootstrap of the paired intervals; --per-file / --models: the comparison, best first
        reports, comparison = run_jobs(compare, settings,
                                       on_source=lambda source: audit_gate.check_outputs(opts, list(source.info.files)))
        opts["comparison"] = comparison
        opts["report_names"] = compare.names if compare.models else None  # section titles (default: the files)

        text = render_json(reports, compare.active, comparison) if (fmt == "json" or json_out) else None
        if json_out:
            out.add("--json-out", json_out, text)
        annotations = audit_gate.write_outputs(reports, opts, paths, out)
        plots_note = audit_plots.write_outputs(reports, opts, plot_folders, out)
        groups_note = audit_groups.write_outputs(reports, opts, plot_folders, out)
        corp_note = audit_statistics.write_outputs(reports, opts, plot_folders, out)
        html_note = audit_html.write_outputs(reports, opts, paths, out)
        warnings = out.commit()
    err = err_console()
    for line in annotations:
        click.echo(line, err=True)
    for w in warnings:
        err.print(f"warning: {w}", style="yellow", highlight=False, markup=False)
    if fmt == "json":
        click.echo(text, nl=False)
    elif not quiet:
        from calibcli.render.terminal import render_audit

        console = out_console()
        for i, r in enumerate(reports):
            if i or compare.models:
                console.rule(compare.names[i] if compare.models else "")
            audit_statistics.print_verdict(console, r)
            console.print(render_audit(r, opts["max_classes"]))
            audit_groups.print_terminal(console, r)
        audit_compare.print_terminal(console, comparison)
    if not quiet:
        if plots_note:
            err.print(plots_note, highlight=False, markup=False)
        for note in (groups_note, corp_note):
            if note:
                err.print(note, highlight=False, markup=False)
        if json_out:
            err.print(f"wrote {json_out}", highlight=False, markup=False)
        if html_note:
            err.print(html_note, highlight=False, markup=False)
    return audit_gate.outcome(reports, opts)


def _reads(paths: list[str], opts: dict) -> list[tuple[str, str]]:
    """Every file this audit reads, for the output checks: inputs, baselines, --fit-on, the config file."""
    from calibcli.outputs import config_reads

    reads = [("one of the input files", p) for p in paths]
    g = opts.get("gate")
    reads += [("the --baseline file", b) for b in (g.baseline if g else ())]
    if opts.get("fit_on"):
        reads.append(("the --fit-on file", opts["fit_on"]))
    return reads + config_reads()


def audit_settings(opts: dict):
    """The library's ``AuditSettings`` from the parsed options of ``calib audit`` (messages name the flags)."""
    from calibcli.pipeline import DEFAULT_TOLERANCE, AuditSettings

    g = opts.get("gate")
    return AuditSettings(
        load=opts["load_options"], n_bins=opts["n_bins"], strategy=opts["strategy"],
        calibrate=not opts.get("no_calibration"),
        calibrators=audit_calibration.parse_calibrators(opts.get("calibrators"), check=not opts.get("no_calibration")),
        calibration_split=opts.get("calibration_split"), fit_on=opts.get("fit_on"), seed=opts.get("seed") or 0,
        per_label=bool(opts.get("per_label")),
        thresholds=audit_thresholds.spec(opts), threshold_classes=tuple(opts.get("threshold_classes") or ()),
        groups=opts.get("group_spec"), statistics=bool(opts.get("statistics")),
        tolerance=opts.get("tolerance") or DEFAULT_TOLERANCE,
        rules=g.rules if g else (), gate_on=g.on if g else "point", strict=g.strict if g else False,
        gate_seed=g.seed if g else 0, gate_replicates=g.replicates if g else 200,
        baseline=(g.baseline or None) if g else None, id_col=g.id_col if g else None, spelling="cli",
    )
