"""``calib thresholds``: recommend decision thresholds for many files in one run.

Also holds the objective options shared with ``calib audit`` (see
``audit_thresholds``). No numerics here: the library is ``calibcli.thresholds``.
"""

from __future__ import annotations

import functools

import click

from calibcli.cli import audit_html
from calibcli.cli.options import input_options
from calibcli.cli.paramtypes import FiniteFloat

OBJECTIVE_NAMES = ("cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band")
DEFAULT_OBJECTIVES = ("f1", "youden")


def objective_options(fn):
    """--objective, the costs, --beta, the targets and --review-precision."""

    @click.option("--objective", "objective", multiple=True, type=click.Choice(OBJECTIVE_NAMES),
                  help="Objective to optimise (repeatable). The flags below imply theirs: --cost-fp/--cost-fn cost, "
                       "--beta fbeta, --min-precision precision, --min-recall recall, --max-flag-rate flag-rate, "
                       "--review-precision review-band.")
    @click.option("--cost-fp", type=FiniteFloat(), default=None, help="cost: cost of a false positive (flagging a negative).")
    @click.option("--cost-fn", type=FiniteFloat(), default=None, help="cost: cost of a false negative (missing a positive).")
    @click.option("--cost-tp", type=FiniteFloat(), default=None, help="cost: cost of a true positive  [default: 0]")
    @click.option("--cost-tn", type=FiniteFloat(), default=None, help="cost: cost of a true negative  [default: 0]")
    @click.option("--beta", type=FiniteFloat(0, min_open=True), default=None, help="fbeta: weight of recall (2 favours recall, 0.5 precision).")
    @click.option("--min-precision", type=FiniteFloat(0, 1, min_open=True), default=None, metavar="P", help="precision: highest recall with precision >= P.")
    @click.option("--min-recall", type=FiniteFloat(0, 1, min_open=True), default=None, metavar="R", help="recall: highest precision with recall >= R.")
    @click.option("--max-flag-rate", type=FiniteFloat(0, 1, min_open=True), default=None, metavar="F", help="flag-rate: flag at most a fraction F of items.")
    @click.option("--review-precision", type=FiniteFloat(0.5, 1, min_open=True, why="each side must be right more often than not"), default=None, metavar="P",
                  help="review-band: auto-decide only where precision >= P holds on each side; the middle goes to review.")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def asked_objectives(opts: dict) -> tuple[str, ...]:
    """Objectives named with --objective or implied by their own flags (possibly none)."""
    implied = {
        "cost": any(opts.get(k) is not None for k in ("cost_fp", "cost_fn", "cost_tp", "cost_tn")),
        "fbeta": opts.get("beta") is not None,
        "precision": opts.get("min_precision") is not None,
        "recall": opts.get("min_recall") is not None,
        "flag-rate": opts.get("max_flag_rate") is not None,
        "review-band": opts.get("review_precision") is not None,
    }
    named = set(opts.get("objective") or ())
    return tuple(o for o in OBJECTIVE_NAMES if o in named or implied.get(o))


def spec_from_opts(opts: dict, objectives: tuple[str, ...], n_bootstrap: int, seed: int):
    """A validated ``ThresholdSpec`` (UsageError naming the missing flag)."""
    from calibcli.thresholds import ThresholdSpec

    return ThresholdSpec(
        objectives=objectives,
        cost_fp=opts.get("cost_fp"), cost_fn=opts.get("cost_fn"),
        cost_tp=opts.get("cost_tp") or 0.0, cost_tn=opts.get("cost_tn") or 0.0,
        beta=opts.get("beta"), min_precision=opts.get("min_precision"), min_recall=opts.get("min_recall"),
        max_flag_rate=opts.get("max_flag_rate"), review_precision=opts.get("review_precision"),
        n_bootstrap=n_bootstrap, seed=seed,
    ).validated()


def load_calibrator_file(path: str):
    """The calibrator saved at ``path`` (``calib fit``), or a UsageError saying why not."""
    from calibcli.errors import UsageError

    try:
        from calibcli.calibrator_file import load_calibrator
    except ImportError:
        raise UsageError(f"--calibrator {path}: this version of calib cannot read calibrator files yet "
                         "(calibcli.calibrator_file is missing). Drop --calibrator, or use calib audit, which fits one.") from None
    return load_calibrator(path)


def _infer_format(fmt: str | None, output: str | None) -> str:
    if fmt is not None:
        return fmt
    if output:
        lower = output.lower()
        if lower.endswith(".json"):
            return "json"
        if lower.endswith(".csv"):
            return "csv"
    return "table"


@click.command()
@click.argument("files", nargs=-1, required=True)
@input_options
@objective_options
@click.option("--class", "classes", multiple=True, metavar="NAME",
              help="Only this class or label (repeatable; default: binary the positive class, otherwise every class one-vs-rest).")
@click.option("--calibrator", type=click.Path(dir_okay=False), default=None,
              help="A calibrator file (calib fit): thresholds are then also recommended on the calibrated scores.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(0, 100_000), default=200, show_default=True,
              help="Bootstrap replicates for the 95% intervals (0: none).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default=None,
              help="Output format  [default: table; with -o, from its suffix (.csv, .json)]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the output to this file instead of stdout.")
@click.option("--keep-going", is_flag=True,
              help="With -o: when some files fail, still write the results of the others (the exit code stays 2). "
                   "Without it a failed file means no output file.")
@audit_html.options
def thresholds(files, **opts):
    """Recommend decision thresholds for the predictions in FILES.

    One row per file x class x objective (x score scale with --calibrator).
    Rule: an item is flagged when score >= threshold; equal scores are all
    flagged or none. Without an objective, f1 and youden are reported.

    \b
    Examples:
      calib thresholds preds.parquet --min-precision 0.95
      calib thresholds 'runs/*.csv' --cost-fp 1 --cost-fn 20 --format csv -o thresholds.csv
      calib thresholds preds.csv --objective f1 --review-precision 0.98 --calibrator cal.json
    """
    from calibcli.cli.consoles import err_console, out_console
    from calibcli.errors import Outcome
    from calibcli.outputs import OutputSet, config_reads

    objectives = asked_objectives(opts) or DEFAULT_OBJECTIVES
    spec = spec_from_opts(opts, objectives, opts["n_bootstrap"], opts["seed"])
    paths, missing, rank = _expand_each(files, opts["load_options"].engine.storage_options)
    output = opts["output"]
    fmt = _infer_format(opts["fmt"], output)
    reads = [("one of the input files", p) for p in paths]
    if opts["calibrator"]:
        reads.append(("the --calibrator file", opts["calibrator"]))
    with OutputSet([*reads, *config_reads()]) as out:
        if output:
            out.plan("-o", output)  # before any work
        audit_html.plan_outputs(opts, out)
        calibrator = load_calibrator_file(opts["calibrator"]) if opts["calibrator"] else None

        err = err_console()
        for pattern, message in missing:
            err.print(f"calib: error: {message}", highlight=False, markup=False)
        results, failures = _run(paths, opts, spec, calibrator, err)
        failures = sorted(missing + failures, key=lambda f: rank[f[0]])  # input order
        text = _render(fmt, results, failures, spec, output)
        write = not failures or opts["keep_going"]  # a failed file means no output file, unless --keep-going
        written = bool(output) and write
        if written:
            out.add("-o", output, text)
        html_note = audit_html.write_thresholds(results, failures, spec, opts, paths, out) if write else None
        if written or html_note:
            out.commit()
    if html_note:
        err.print(html_note, highlight=False, markup=False)
    if written:
        err.print(f"wrote {output}", highlight=False)
    elif output:
        err.print(f"calib: no output written to {output}: some files failed (--keep-going writes the others' results).",
                  highlight=False, markup=False)
    elif fmt == "table":
        out_console().print(text)
    else:
        click.echo(text, nl=False)
    if failures:
        names = ", ".join(f for f, _ in failures)
        total = len(paths) + len(missing)
        err.print(f"calib: error: {len(failures)} of {total} file{'s' if total > 1 else ''} failed: {names}",
                  highlight=False, markup=False)
    return Outcome(failed_inputs=len(failures))


def _expand_each(patterns, storage_options=()) -> tuple[list[str], list[tuple[str, str]], dict[str, tuple[int, int]]]:
    """Files of each pattern in order, the patterns that name no file (with why),
    and each name's place in the input (pattern index, index within the pattern)."""
    from calibcli.errors import InputError
    from calibcli.reading import expand_inputs
    from calibcli.sources.remote import redact

    paths, missing, rank = [], [], {}
    for i, pattern in enumerate(patterns):
        try:
            found = expand_inputs([pattern], storage_options)
        except InputError as exc:
            pattern = redact(pattern)  # a URL's credentials are never shown
            if pattern not in rank:
                missing.append((pattern, str(exc)))
                rank[pattern] = (i, 0)
            continue
        for k, path in enumerate(found):
            if path not in rank:
                paths.append(path)
                rank[path] = (i, k)
    return paths, missing, rank


def _stream_by_default(load_options):
    """``calib thresholds`` keeps no decoded input between passes unless ``--memory-limit`` was set
    (flag, config or environment): its passes only count scores, so re-reading costs little (about 8%
    at 2e7 rows) while a cache would make its memory grow with the file up to the limit."""
    from dataclasses import replace

    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.get_parameter_source("memory_limit") in (None, ParameterSource.DEFAULT):
        return replace(load_options, memory_limit=0)
    return load_options


def _run(paths, opts, spec, calibrator, err):
    """Recommend for each file; a file that fails is reported and the rest go on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from calibcli.engine.streaming import open_source
    from calibcli.errors import CalibError
    from calibcli.thresholds import recommend_source
    from calibcli.thresholds.passes import TransformWith

    load_options = _stream_by_default(opts["load_options"])
    results, failures = [], []
    show = err.is_terminal and len(paths) > 1
    with Progress(TextColumn("thresholds"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=err, transient=True, disable=not show) as progress:
        task = progress.add_task("", total=len(paths))
        for path in paths:
            progress.update(task, description=path)
            try:
                calibrate = None if calibrator is None else TransformWith(calibrator)  # picklable, for any engine

                def recommend(source):
                    return recommend_source(source, spec, tuple(opts["classes"]) or None, calibrate)

                # streamed: batches, bounded memory; the first pass is fed while the input is checked
                with open_source([path], load_options, first_pass=recommend) as source:
                    results.append((path, recommend(source)))
            except CalibError as exc:
                failures.append((path, str(exc)))
                progress.console.print(f"calib: error: {exc}" if str(exc).startswith(path) else f"calib: error: {path}: {exc}",
                                       highlight=False, markup=False)
            progress.advance(task)
    return results, failures


def _render(fmt, results, failures, spec, output):
    if fmt == "json":
        from calibcli.render.thresholds_terminal import thresholds_json

        return thresholds_json(results, failures, spec)
    if fmt == "csv":
        from calibcli.render.thresholds_terminal import thresholds_csv

        return thresholds_csv(results)
    from calibcli.render.thresholds_terminal import render_batch

    renderable = render_batch(results, failures)
    if output is None:
        return renderable
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None, highlight=False).print(renderable)
    return buf.getvalue()
