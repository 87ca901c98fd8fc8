"""The audits of one run and their comparison: pooled, one per file, one per model (``models``).

``calib audit --per-file`` / ``--models A,B`` and ``calibcli.audit(..., per_file=True, models=[...])``
share this module: :func:`plan_jobs` lists what to audit (each a :class:`Job`: name, files, load
options), :func:`run_jobs` runs :func:`calibcli.pipeline.run_audit` on each and compares the
reports (:func:`calibcli.comparison.compare`), with paired intervals where reports share their rows.
No click and no printing here.

Examples
--------
>>> parse_models("RLR, SVM,a_*")
('RLR', 'SVM', 'a_*')
>>> match_models(["target", "RLR", "a_x", "a_y"], ("RLR", "a_*"), "f.csv")
[('RLR',), ('a_x', 'a_y')]
"""

from __future__ import annotations

import fnmatch
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from calibcli.errors import InputError, UsageError
from calibcli.pipeline import setting_name as _name  # '--score-cols' (cli) or 'score_cols' (python)

__all__ = ["Job", "JobPlan", "parse_models", "model_name", "match_models", "plan_jobs", "run_jobs"]

_SUFFIXES = (".csv.gz", ".csv", ".parquet", ".pq", ".gz")  # stripped from file names (plot folders, report names)


@dataclass(frozen=True)
class Job:
    """One audit of a run: its display name, files, load options and (for a model) score columns."""

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


def parse_models(value: str | Sequence[str] | None, spelling: str = "cli") -> tuple[str, ...]:
    """The model patterns of ``--models 'A,B'`` (or ``models=['A', 'B']``); ``UsageError`` when none is named.

    >>> parse_models(["RLR", " SVM "], "python")
    ('RLR', 'SVM')
    """
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    pats = tuple(v.strip() for v in parts if v.strip())
    if not pats:
        given = f"--models {value!r}" if spelling == "cli" else f"models={value!r}"
        example = "--models 'RLR,SVM'" if spelling == "cli" else "models=['RLR', 'SVM']"
        raise UsageError(f"{given} names no score column. Give score-column names or globs, "
                         f"one model each, e.g. {example}.")
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


def match_models(names: list[str], patterns: tuple[str, ...], source: str,
                 spelling: str = "cli") -> list[tuple[str, ...]]:
    """The score columns of each model (``InputError`` naming the columns when a pattern matches none)."""
    import difflib

    out = []
    for pat in patterns:
        globbed = any(c in pat for c in "*?[")
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)] if globbed else [pat] if pat in names else []
        if not hits:
            same_case = [n for n in names if n.lower() == pat.lower()]
            close = same_case or difflib.get_close_matches(pat, names, n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            how = "comma-separated" if spelling == "cli" else "as a list"
            raise InputError(
                f"{source}: {_name('models', spelling)} names '{pat}', which matches no column.{hint} The columns are: "
                f"{', '.join(names[:30])}{' ...' if len(names) > 30 else ''}. Give one score-column name or glob "
                f"per model, {how}.")
        out.append(tuple(hits))
    return out


def files_title(files: Sequence[str]) -> str:
    """A report's files as one name (as the reports show them: stdin as <stdin>, URLs redacted)."""
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


def file_stem(path: str) -> str:
    """A file's name without its data suffix (``runs/a.csv.gz`` -> ``a``; ``-`` -> ``stdin``)."""
    if path == "-":
        return "stdin"
    name = Path(path).name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return Path(path).stem or name


@dataclass(frozen=True)
class JobPlan:
    """What one run audits (``jobs``) and how it compares them.

    Attributes
    ----------
    jobs : the audits, in order.
    patterns : the model patterns (empty without ``models``).
    per_file : one audit per file.
    sort_by : the comparison's order (a key of :data:`calibcli.comparison.SORT_METRICS`).
    """

    jobs: tuple[Job, ...]
    patterns: tuple[str, ...] = ()
    per_file: bool = False
    sort_by: str = "ece"

    @property
    def models(self) -> bool:
        """Whether the jobs are models of the same rows (``--models``)."""
        return bool(self.patterns)

    @property
    def active(self) -> bool:
        """Whether this run compares reports (``--per-file`` or ``--models``)."""
        return self.per_file or self.models

    @property
    def names(self) -> list[str]:
        """The display name of each job."""
        return [j.name for j in self.jobs]

    @property
    def paired(self) -> bool:
        """Whether some jobs share their rows (models of the same files): paired intervals."""
        rows = [j.files for j in self.jobs]
        return len(set(rows)) < len(rows)

    def comparison(self, reports: Sequence[Any], states: Sequence[Any] | None = None):
        """The :class:`calibcli.comparison.Comparison` of ``reports`` (in job order), or None when not ``active``."""
        if not self.active:
            return None
        from calibcli.comparison import compare

        names = self.names if self.models else [files_title(r.input.files) for r in reports]
        return compare(reports, names, self.sort_by, rows_of=[j.files for j in self.jobs],
                       states=list(states) if states else None, score_columns=[j.score_columns for j in self.jobs])


def plan_jobs(paths: Sequence[str], load_options, *, models: str | Sequence[str] | None = None,
              per_file: bool = False, sort_by: str = "ece", spelling: str = "python",
              columns: Callable[[str], tuple[list[str], str]] | None = None) -> JobPlan:
    """The audits of one run: one per file with ``per_file``, one per model with ``models`` (per file and
    model with both), else one of the pooled files.

    Parameters
    ----------
    paths : the input files, expanded (``calibcli.sources.paths.expand_inputs``; its ``notes`` are kept
        for a pooled run); for in-memory data, one name (e.g. ``['DataFrame']``).
    load_options : the ``LoadOptions`` of the run; a model's job gets ``score_cols=(pattern,)``.
    models : score-column names or globs, one model each (a list, or the CLI's comma-separated text).
    per_file, sort_by : as ``--per-file`` and ``--sort-by``.
    spelling : how messages name the options: 'python' or 'cli'.
    columns : a file's ``(column names, display name)`` (default: read from the file's header).

    Raises
    ------
    UsageError
        ``models`` with ``score_cols`` or with standard input; an unknown ``sort_by``.
    InputError
        A model pattern that matches no column (the message lists the columns).
    """
    from calibcli.comparison import SORT_METRICS

    if sort_by not in SORT_METRICS:
        raise UsageError(f"{_name('sort_by', spelling)}={sort_by!r}: choose from {', '.join(SORT_METRICS)}.")
    patterns = parse_models(models, spelling)
    groups = [[p] for p in paths] if per_file else [list(paths)]
    if patterns:
        jobs = _model_jobs(groups, load_options, patterns, per_file, spelling,
                           columns or (lambda path: _file_columns(path, load_options)))
    else:
        jobs = [Job(str(g[0]) if len(g) == 1 else f"{len(g)} files", tuple(map(str, g)), load_options) for g in groups]
    if not per_file:  # one pooled group: its reports warn about files named twice
        jobs = [replace(job, notes=tuple(getattr(paths, "notes", ()))) for job in jobs]
    return JobPlan(tuple(jobs), patterns, bool(per_file), sort_by)


def _file_columns(path: str, load_options) -> tuple[list[str], str]:
    from calibcli.sources.files import open_input

    first = open_input(path, load_options.engine.storage_options, load_options.encoding)
    return list(first.column_names()), first.display


def _model_jobs(groups, lo, patterns, per_file: bool, spelling: str, columns) -> list[Job]:
    if lo.score_cols:
        raise UsageError(f"{_name('models', spelling)} picks the score columns of each model, so "
                         f"{_name('score_cols', spelling)} cannot be given too; drop {_name('score_cols', spelling)}.")
    if any(str(p) == "-" for g in groups for p in g):
        raise UsageError(f"{_name('models', spelling)} audits the input once per model, and standard input can be "
                         "read only once. Save it to a file and pass the file name.")
    names = [model_name(p) for p in patterns]
    jobs = []
    for g in groups:
        cols, display = columns(g[0])
        matched = match_models(cols, patterns, display, spelling)
        prefix = f"{file_stem(str(g[0]))}:" if per_file and len(groups) > 1 else ""
        for pat, name, hits in zip(patterns, names, matched):  # the glob itself: classes are its suffixes
            jobs.append(Job(prefix + name, tuple(map(str, g)), replace(lo, score_cols=(pat,)), hits))
    return [replace(j, name=n) for j, n in zip(jobs, _unique([j.name for j in jobs]))]


def run_jobs(plan: JobPlan, settings, open_job: Callable[[Job], AbstractContextManager] | None = None,
             on_source: Callable[[Any], None] | None = None) -> tuple[list[Any], Any]:
    """Audit every job of ``plan`` with :func:`calibcli.pipeline.run_audit`; the reports and their comparison.

    Parameters
    ----------
    plan : from :func:`plan_jobs`.
    settings : the run's ``AuditSettings`` (each job gets its own ``load``: a model's score columns,
        also for ``fit_on`` and ``baseline``).
    open_job : a job's ``BatchSource`` as a context manager (default: its files, streamed).
    on_source : called with each opened source before its audit (e.g. output checks against its files).

    Returns
    -------
    (reports, comparison)
        The reports in job order; the :class:`calibcli.comparison.Comparison` (None unless ``plan.active``).
        With shared rows, each report's row-keyed bootstrap (maybe one more pass) gives paired intervals.
    """
    from calibcli.pipeline import first_pass_plan, run_audit

    paired = plan.paired
    if open_job is None:
        from calibcli.engine.streaming import open_source

        def open_job(job):  # streamed: batches, bounded memory; the audit's first pass fed during the scan
            first_pass = first_pass_plan(replace(settings, load=job.load_options), later_passes=paired)
            return open_source(job.inputs(), job.load_options, first_pass=first_pass)

    reports, states = [], []
    for job in plan.jobs:
        with open_job(job) as source:
            if on_source is not None:
                on_source(source)
            report = run_audit(source, replace(settings, load=job.load_options))
            state = None
            if paired:
                from calibcli.comparison import bootstrap_state

                state = bootstrap_state(source, report, int(settings.seed or 0))
            states.append(state)
        reports.append(report)
    return reports, plan.comparison(reports, states)
