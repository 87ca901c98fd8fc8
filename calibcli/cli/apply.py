"""``calib apply``: write calibrated probabilities next to the original columns."""

from __future__ import annotations

import click

from calibcli.cli.options import BATCH_ROWS_DEFAULT, encoding_option, engine_options
from calibcli.predictions import ScoreKind

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")


@click.command()
@click.argument("calibrator", type=click.Path(dir_okay=False))
@click.argument("files", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output file; .parquet/.pq or .csv/.csv.gz decides the format. With --engine dask: a folder "
                   "of Parquet parts, one per input partition.")
@click.option("--replace", is_flag=True,
              help="Overwrite the score columns with the calibrated probabilities (logit_<c> becomes p_<c>) "
                   "instead of adding p_cal_<class> columns.")
@click.option("--score-cols", default=None,
              help="Score columns, comma-separated names or globs, one per class in the calibrator's order "
                   "(default: the columns the calibrator was fitted on).")
@click.option("--score-kind", type=click.Choice([k.value for k in ScoreKind]), default=None,
              help="Override probabilities-vs-logits detection.")
@click.option("--renormalize", is_flag=True, help="Divide probability rows that do not sum to 1 by their sum.")
@encoding_option
@click.option("--batch-rows", type=click.IntRange(1), default=BATCH_ROWS_DEFAULT, show_default=True, metavar="N",
              help="Rows per record batch: rows are read, calibrated and written batch by batch in one pass, so "
                   "memory is set by N, not by the file size; any N writes the same values.")
@engine_options
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on stderr but errors.")
def apply(calibrator, files, output, replace, score_cols, score_kind, renormalize, encoding, batch_rows, engine_options,
          quiet):
    """Apply the saved CALIBRATOR to the predictions in FILES and write OUTPUT.

    Every original column and the row order are kept; labels are not needed.
    Several files are stacked in order into one OUTPUT. Rows stream through in
    one pass (batch in, batch out). The output is written atomically (a device
    or pipe is written through) and never over a file the command reads; a
    failed or interrupted run leaves no output.

    \b
    Examples:
      calib apply calibrator.json test.parquet -o test_calibrated.parquet
      calib apply calibrator.json 'shards/*.csv' -o all_calibrated.csv
      calib apply calibrator.json preds.csv --replace -o preds_cal.csv
      calib apply calibrator.json 'shards/*.parquet' --engine dask --workers 4 -o calibrated/
    """
    from calibcli.apply_stream import apply_files, folder_format, output_format
    from calibcli.calibrator_file import read_calibrator_file
    from calibcli.cli.consoles import err_console
    from calibcli.cli.options import _split
    from calibcli.engine.cluster_options import check_engine_options
    from calibcli.outputs import OutputSet, config_reads
    from calibcli.sources.paths import expand_inputs

    check_engine_options(engine_options)
    dask = engine_options.engine == "dask"
    paths = expand_inputs(files)
    for note in paths.notes:  # the same file under two spellings is stacked once
        err_console().print(f"warning: {note}", style="yellow", highlight=False, markup=False)
    reads = [*(("one of the input files", p) for p in paths), ("the calibrator file", calibrator), *config_reads()]
    with OutputSet(reads) as out:
        # before any work: the output path and its format
        if dask:
            folder_format(output)
            out.plan_dir("-o", output)
        else:
            out.plan("-o", output)
            output_format(output)
        cf = read_calibrator_file(calibrator)
        staged = out.staged_dir("-o", output) if dask else out.staged_path("-o", output)
        result = apply_files(cf, list(paths), output, staged, _split(score_cols),
                             ScoreKind(score_kind) if score_kind else None, renormalize, replace, encoding or "utf-8",
                             batch_rows, engine_options)
        out.commit()
    if not quiet:
        what = "replaced the score columns" if replace else "added p_cal_ columns"
        parts = f" in {result.partitions} Parquet part{'s' if result.partitions != 1 else ''}" if dask else ""
        err_console().print(f"wrote {output}: {result.rows:,} rows{parts}, {what} ({cf.calibrator.method})")
    return 0
