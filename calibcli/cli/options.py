"""Options shared by several commands, as decorators."""

from __future__ import annotations

import functools

import click

TASKS = ("binary", "multiclass", "multilabel", "top_label")
SCORE_KINDS = ("probs", "logits")


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _encoding(ctx, param, value: str | None) -> str | None:
    if value is None:
        return None
    from calibcli.errors import InputError
    from calibcli.reading import normalize_encoding

    try:
        return normalize_encoding(value)
    except InputError as exc:
        raise click.BadParameter(str(exc).replace(f"--encoding {value!r} is", "it is"), ctx, param) from None


BATCH_ROWS_DEFAULT = 65_536  # calibcli.engine.batches.DEFAULT_BATCH_ROWS (not imported: --help stays fast; a test checks)
MEMORY_LIMIT_DEFAULT = "448M"  # calibcli.validation.options.DEFAULT_MEMORY_LIMIT (a test checks)
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """Bytes of a size such as ``512M``, ``2G``, ``1.5GiB`` or ``100000`` (powers of 1024).

    >>> parse_size("512M"), parse_size("2g"), parse_size("1.5GiB"), parse_size("0")
    (536870912, 2147483648, 1610612736, 0)
    """
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size; write e.g. 512M, 2G or 0 (bytes, powers of 1024)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def _memory_limit(ctx, param, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


BATCH_ROWS_HELP = ("Rows per record batch: the input is read, checked and measured batch by batch, so memory is "
                   "set by N, not by the file size; any N gives the same numbers.")
MEMORY_LIMIT_HELP = ("Memory for keeping the decoded input between passes (e.g. 512M, 2G; 0: never keep it). "
                     "Input that fits is read once; larger input is read again on every pass.")
ENCODING_HELP = "Text encoding of CSV and JSON Lines input, e.g. cp1252 or latin-1 (default: utf-8)."


def encoding_option(fn):
    """--encoding NAME (checked and normalised; None when not given)."""
    return click.option("--encoding", default=None, callback=_encoding, metavar="NAME", help=ENCODING_HELP)(fn)


ENGINES = ("local", "dask")


def _storage_option(ctx, param, values) -> tuple[tuple[str, str], ...]:
    pairs = []
    for v in values or ():
        key, sep, val = str(v).partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{key.strip() or '(empty)'!s}: write KEY=VALUE, e.g. --storage-option anon=true",
                                     ctx, param)
        pairs.append((key.strip(), val))
    return tuple(pairs)


def engine_options(fn):
    """--engine, --scheduler, --workers, --storage-option, --threads (into ``engine_options``, an ``EngineOptions``)."""

    @click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                  help="Run the passes here (local) or on a Dask cluster (dask; pip install 'calibcli[dask]').")
    @click.option("--scheduler", default=None, metavar="ADDRESS",
                  help="Address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); with --engine dask.")
    @click.option("--workers", type=click.IntRange(1), default=None, metavar="N",
                  help="Start a local Dask cluster of N worker processes for this run; with --engine dask.")
    @click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE", callback=_storage_option,
                  help="Option for reading URLs (s3://, gs://, az://, https://), e.g. anon=true; repeatable. "
                       "Secret-looking values (keys, tokens, headers) are never printed.")
    @click.option("--threads", type=click.IntRange(1), default=None, metavar="N",
                  help="Threads of each pass of the local engine [default: 2] (batch i goes to thread i mod N, so a "
                       "run repeats byte for byte; any N gives the same numbers to rounding).")
    @functools.wraps(fn)
    def wrapper(*args, engine, scheduler, workers, storage_option, threads, **kwargs):
        from calibcli.validation.options import EngineOptions

        if threads is not None and engine == "dask":
            raise click.UsageError("--threads sets the threads of the local engine; with --engine dask use --workers "
                                   "(or the cluster's own settings).")
        kwargs["engine_options"] = EngineOptions(engine, scheduler, workers, tuple(storage_option),
                                                 2 if threads is None else threads)
        return fn(*args, **kwargs)

    return wrapper


def input_options(fn):
    """--label-col, --score-cols, --classes, --task, --score-kind, --renormalize, --drop-invalid, --encoding,
    --batch-rows, --memory-limit and the engine options (all into ``load_options``, a ``LoadOptions``)."""

    @click.option("--label-col", default="label", show_default=True, help="Column holding the true label (integer index or class name).")
    @click.option("--score-cols", default=None, help="Score columns: comma-separated names or globs (default: columns prefixed p_, prob_, proba_ or logit_).")
    @click.option("--classes", "classes_", default=None, help="Comma-separated class names fixing the class order (names are the score-column suffixes).")
    @click.option("--task", type=click.Choice(TASKS), default=None, help="Override task detection.")
    @click.option("--score-kind", type=click.Choice(SCORE_KINDS), default=None, help="Override probabilities-vs-logits detection.")
    @click.option("--renormalize", is_flag=True, help="Divide probability rows that do not sum to 1 by their sum.")
    @click.option("--drop-invalid", is_flag=True, help="Drop invalid rows (NaN, out of range, unknown label) and report how many, instead of failing.")
    @encoding_option
    @click.option("--batch-rows", type=click.IntRange(1), default=BATCH_ROWS_DEFAULT, show_default=True, metavar="N",
                  help=BATCH_ROWS_HELP)
    @click.option("--memory-limit", default=MEMORY_LIMIT_DEFAULT, show_default=True, metavar="SIZE",
                  callback=_memory_limit, help=MEMORY_LIMIT_HELP)
    @engine_options
    @functools.wraps(fn)
    def wrapper(*args, label_col, score_cols, classes_, task, score_kind, renormalize, drop_invalid, encoding,
                batch_rows, memory_limit, engine_options, **kwargs):
        from calibcli.loading import LoadOptions
        from calibcli.predictions import ScoreKind, Task

        kwargs["load_options"] = LoadOptions(
            label_col=label_col,
            score_cols=_split(score_cols),
            classes=_split(classes_),
            task=Task(task) if task else None,
            score_kind=ScoreKind(score_kind) if score_kind else None,
            renormalize=renormalize,
            drop_invalid=drop_invalid,
            encoding=encoding or "utf-8",
            batch_rows=batch_rows,
            memory_limit=memory_limit,
            engine=engine_options,
        )
        return fn(*args, **kwargs)

    return wrapper


def binning_options(fn):
    """--bins and --binning."""

    @click.option("--bins", "n_bins", type=click.IntRange(1, 10_000), default=15, show_default=True, help="Number of bins.")
    @click.option("--binning", "strategy", type=click.Choice(["uniform", "quantile"]), default="uniform", show_default=True,
                  help="Equal-width bins, or equal-mass bins (quantiles; ties never split).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper
