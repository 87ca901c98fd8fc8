"""``calib fit``: fit a post-hoc calibrator on labelled predictions and save it as JSON."""

from __future__ import annotations

import click

from calibcli.cli.options import input_options

METHOD_CHOICES = ("temperature", "vector", "platt", "isotonic", "histogram")


@click.command()
@click.argument("files", nargs=-1, required=True)
@input_options
@click.option("--method", type=click.Choice(METHOD_CHOICES), default="temperature", show_default=True,
              help="Calibrator to fit.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Calibrator file to write (JSON; never pickle).")
@click.option("--per-label", is_flag=True, help="Multilabel temperature scaling: one T per label instead of one shared T.")
@click.option("--histogram-bins", "n_bins", type=click.IntRange(1, 10_000), default=15, show_default=True,
              help="Histogram binning: number of equal-width bins.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the row-keyed sample (warm start on many rows) and of the bootstrap interval of T.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on stdout.")
def fit(files, load_options, method, output, per_label, n_bins, seed, quiet):
    """Fit a calibrator on the labelled predictions in FILES and save it (-o FILE).

    Fit on validation data, not on the data you will evaluate on; `calib audit
    --fit-on VAL` shows held-out numbers. The file records the method, its
    parameters, the classes, the score kind and columns it expects, and a
    fingerprint of the fitting data.

    \b
    Examples:
      calib fit val.parquet -o calibrator.json
      calib fit val.csv --method isotonic -o iso.json
      calib apply calibrator.json test.parquet -o test_calibrated.parquet
    """
    from calibcli.calibrator_file import calibrator_text
    from calibcli.calibrators.fit_all import fit_all_rows
    from calibcli.cli.consoles import err_console, out_console
    from calibcli.engine.streaming import open_source
    from calibcli.outputs import OutputSet, config_reads
    from calibcli.reading import expand_inputs

    paths = expand_inputs(files, load_options.engine.storage_options)
    with OutputSet([*(("one of the input files", p) for p in paths), *config_reads()]) as out:
        out.plan("-o", output)  # before any work

        def fit_rows(source):
            return fit_all_rows(source, method, per_label, n_bins, seed, fingerprint=True)

        with open_source(paths, load_options, first_pass=fit_rows) as source:  # the first pass rides the input check
            outcome = fit_rows(source)
            info = source.info
            fit_info = {**outcome.info, "engine": source.engine_stats().to_dict()}
        text = calibrator_text(outcome.calibrator, info.columns.score_cols, outcome.fingerprint, fit_info)
        out.add("-o", output, text)
        out.commit()
    err = err_console()
    for w in (*info.warnings, *outcome.info["warnings"]):
        err.print(f"warning: {w}", style="yellow")
    if not quiet:
        from calibcli.render.calibration_terminal import fit_summary

        out_console().print(fit_summary(outcome.calibrator, outcome.info))
        err.print(f"wrote {output}")
    return 0
