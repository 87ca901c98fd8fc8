"""Audit hook: many models side by side (``--models``, ``--sort-by``; issue: comparison).

Contract used by ``calibcli.cli.audit``:

- ``options(fn)``: ``--models LIST`` and ``--sort-by METRIC``.
- ``Collector(paths, opts)``: ``jobs`` lists what to audit, each a ``Job`` (name,
  files, load options): one per file with ``--per-file``, one per model with
  ``--models`` (per file and model with both), else one for the pooled files.
  ``add(report, source)`` is called inside the job's open source (it may take one
  more pass for the paired bootstrap); ``comparison(reports)`` gives the
  :class:`calibcli.comparison.Comparison` (None for a single pooled audit).

No numerics here: the comparison is :func:`calibcli.comparison.compare`.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, replace
from typing import Any

import click

SORT_CHOICES = ("ece", "classwise_ece", "nll", "brier", "mce", "accuracy")  # calibcli.comparison.SORT_METRICS


def options(fn):
    """Add ``--models`` and ``--sort-by`` to a command."""

    @click.option("--models", default=None, metavar="LIST",
                  help="Several models' scores in the same file(s), one label column: comma-separated score-column "
                       "names or globs, one model each (e.g. 'RLR,SVM' or 'a_*,b_*'). Each model is audited against the "
                       "same labels and all are compared in one table, with paired intervals for the differences.")
    @click.option("--sort-by", type=click.Choice(SORT_CHOICES), default="ece", show_default=True,
                  help="Order of the comparison table of --per-file and --models: best first (errors ascending, "
                       "accuracy descending; ties keep the input order).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Job:
    """One audit of a comparison: its display name, files, load options and (for a model) score columns."""

    name: str
    files: tuple[str, ...]
    load_options: Any
    score_columns: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()  # pooled runs: inputs that named a file already given (read once; a warning)

    def inputs(self):
        """The job's files as an ``InputPaths`` carrying its notes (what ``open_source`` takes)."""
        from calibcli.sources.paths import InputPaths

        paths = InputPaths(self.files)
        paths.notes = self.notes
        return paths


def parse_models(value: str | None) -> tuple[str, ...]:
    """The patterns of ``--models`` (``UsageError`` when it names none).

    >>> parse_models("RLR, SVM,a_*")
    ('RLR', 'SVM', 'a_*')
    """
    if value is None:
        return ()
    from calibcli.errors import UsageError

    pats = tuple(v.strip() for v in value.split(",") if v.strip())
    if not pats:
        raise UsageError(f"--models {value!r} names no score column. Give comma-separated column names or globs, "
                         "one model each, e.g. --models 'RLR,SVM'.")
    return pats


def model_name(pattern: str) -> str:
    """A model's display name: the column name, or a glob's literal part without trailing separators.

    >>> model_name("RLR"), model_name("lr_p_*"), model_name("*_x")
    ('RLR', 'lr_p', '*_x')
    """
    cut = min((pattern.index(ch) for ch in "*?[" if ch in pattern), default=None)
    if cut is None:
        return pattern
    return pattern[:cut].rstrip("_-. :") or pattern


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def match_models(names: list[str], patterns: tuple[str, ...], source: str) -> list[tuple[str, ...]]:
    """The score columns of each model (``InputError`` naming the columns when a pattern matches none).

    >>> match_models(["target", "RLR", "a_x", "a_y"], ("RLR", "a_*"), "f.csv")
    [('RLR',), ('a_x', 'a_y')]
    """
    import difflib

    from calibcli.errors import InputError

    out = []
    for pat in patterns:
        globbed = any(c in pat for c in "*?[")
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)] if globbed else [pat] if pat in names else []
        if not hits:
            same_case = [n for n in names if n.lower() == pat.lower()]
            close = same_case or difflib.get_close_matches(pat, names, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InputError(
                f"{source}: --models names '{pat}', which matches no column.{hint} The columns are: "
                f"{', '.join(names[:30])}{' ...' if len(names) > 30 else ''}. Give one score-column name or glob "
                "per model, comma-separated.")
        out.append(tuple(hits))
    return out


def _files_title(files) -> str:
    """A report's files as one name (as the reports show them: stdin as <stdin>, URLs redacted)."""
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


def _file_name(path: str) -> str:
    from calibcli.cli.audit_plots import subfolder_names

    return subfolder_names([str(path)])[0]


class Collector:
    """The audits of one ``calib audit`` run and what the comparison needs from each (see the module)."""

    def __init__(self, paths, opts: dict):
        self.opts = opts
        self.sort_by = opts.get("sort_by") or "ece"
        self.patterns = parse_models(opts.get("models"))
        self.per_file = bool(opts.get("per_file"))
        lo = opts["load_options"]
        groups = [[p] for p in paths] if self.per_file else [list(paths)]
        if not self.patterns:
            self.jobs = [Job(str(g[0]) if len(g) == 1 else f"{len(g)} files", tuple(map(str, g)), lo) for g in groups]
        else:
            self.jobs = self._model_jobs(groups, lo)
        if not self.per_file:  # one pooled group: its reports warn about files named twice
            self.jobs = [replace(job, notes=tuple(getattr(paths, "notes", ()))) for job in self.jobs]
        self.states: list[Any] = []
        self.rows_of = [job.files for job in self.jobs]

    @property
    def models(self) -> bool:
        return bool(self.patterns)

    @property
    def active(self) -> bool:
        """Whether this run compares reports (``--per-file`` or ``--models``)."""
        return self.per_file or self.models

    def _model_jobs(self, groups, lo) -> list[Job]:
        from calibcli.errors import UsageError
        from calibcli.sources.files import open_input

        if lo.score_cols:
            raise UsageError("--models picks the score columns of each model, so --score-cols cannot be given too; "
                             "drop --score-cols.")
        if any(str(p) == "-" for g in groups for p in g):
            raise UsageError("--models audits the input once per model, and standard input can be read only once. "
                             "Save it to a file and pass the file name.")
        names = [model_name(p) for p in self.patterns]
        jobs = []
        for g in groups:
            first = open_input(g[0], lo.engine.storage_options, lo.encoding)
            columns = match_models(list(first.column_names()), self.patterns, first.display)
            prefix = f"{_file_name(g[0])}:" if self.per_file and len(groups) > 1 else ""
            for pat, name, cols in zip(self.patterns, names, columns):  # the glob itself: classes are its suffixes
                jobs.append(Job(prefix + name, tuple(map(str, g)), replace(lo, score_cols=(pat,)), cols))
        return [replace(j, name=n) for j, n in zip(jobs, _unique([j.name for j in jobs]))]

    def _paired(self) -> bool:
        """Whether some reports share their rows (models of the same files): paired intervals."""
        return len(set(self.rows_of)) < len(self.rows_of)

    def add(self, report, source) -> None:
        """Record one job's report; with shared rows, its row-keyed bootstrap state (maybe one more pass)."""
        state = None
        if self._paired():
            from calibcli.comparison import bootstrap_state

            state = bootstrap_state(source, report, int(self.opts.get("seed") or 0))
        self.states.append(state)

    def comparison(self, reports):
        """The comparison of ``reports`` (in job order), or None when this run compares nothing."""
        if not self.active:
            return None
        from calibcli.comparison import compare

        names = self.names if self.models else [_files_title(r.input.files) for r in reports]
        return compare(reports, names, self.sort_by, rows_of=self.rows_of,
                       states=self.states or None, score_columns=[j.score_columns for j in self.jobs])

    @property
    def names(self) -> list[str]:
        """The display name of each report, in job order."""
        return [j.name for j in self.jobs]

    def plot_args(self, opts: dict, paths) -> tuple[dict, list[str]]:
        """``(opts, inputs)`` for ``audit_plots.plan_outputs``: with ``--models``, one folder per model."""
        if not self.models:
            return opts, paths
        return {**opts, "per_file": True}, [j.name.replace(":", "-").replace("/", "-") for j in self.jobs]


def print_terminal(console, comparison) -> None:
    """Print the comparison table after the reports (when it has two rows or more)."""
    if comparison is None or len(comparison.rows) < 2:
        return
    from calibcli.render.comparison import comparison_terminal

    console.rule()
    console.print(comparison_terminal(comparison))
