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


ENCODING_HELP = "Text encoding of CSV and JSON Lines input, e.g. cp1252 or latin-1 (default: utf-8)."


def encoding_option(fn):
    """--encoding NAME (checked and normalised; None when not given)."""
    return click.option("--encoding", default=None, callback=_encoding, metavar="NAME", help=ENCODING_HELP)(fn)


def input_options(fn):
    """--label-col, --score-cols, --classes, --task, --score-kind, --renormalize, --drop-invalid, --encoding."""

    @click.option("--label-col", default="label", show_default=True, help="Column holding the true label (integer index or class name).")
    @click.option("--score-cols", default=None, help="Score columns: comma-separated names or globs (default: columns prefixed p_, prob_, proba_ or logit_).")
    @click.option("--classes", "classes_", default=None, help="Comma-separated class names fixing the class order (names are the score-column suffixes).")
    @click.option("--task", type=click.Choice(TASKS), default=None, help="Override task detection.")
    @click.option("--score-kind", type=click.Choice(SCORE_KINDS), default=None, help="Override probabilities-vs-logits detection.")
    @click.option("--renormalize", is_flag=True, help="Divide probability rows that do not sum to 1 by their sum.")
    @click.option("--drop-invalid", is_flag=True, help="Drop invalid rows (NaN, out of range, unknown label) and report how many, instead of failing.")
    @encoding_option
    @functools.wraps(fn)
    def wrapper(*args, label_col, score_cols, classes_, task, score_kind, renormalize, drop_invalid, encoding, **kwargs):
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
