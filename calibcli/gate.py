"""The CI acceptance gate: rules on audit metrics, their evaluation and verdict.

A rule says when to fail: ``metric op limit`` (``ece > 0.05``). Rules come from
flags (``--max-ece 0.05``), from ``--fail-if``/``--warn-if`` expressions written
in a tiny grammar parsed here (never ``eval``), or from a config file. Each rule
carries its severity (``fail`` or ``warn``) and where it came from.

``--on point`` compares the point estimate; ``--on upper`` compares the
pessimistic end of a seeded percentile-bootstrap 95% interval: the upper end for
rules that fail when a metric is too large, the lower end for rules that fail
when it is too small (``accuracy < 0.9``). Bin edges stay those of the full data.

Baseline rules (``ece_increase > 0.01``) compare with the previous model's
predictions for the same items, matched by an id column or by position.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibcli.errors import InputError, UsageError
from calibcli.predictions import Predictions, Task
from calibcli.report import Measurement

#: metric name -> (display label, the comparison that means "bad" for --max/--min flags)
BASE_METRICS: dict[str, str] = {
    "ece": "ECE",
    "classwise_ece": "classwise ECE",
    "class_ece": "worst class ECE",
    "mce": "MCE",
    "brier": "Brier",
    "nll": "NLL",
    "accuracy": "accuracy",
    "samples": "samples",
}
DELTA_METRICS: dict[str, str] = {
    **{f"{m}_increase": f"{BASE_METRICS[m]} increase" for m in ("ece", "classwise_ece", "class_ece", "mce", "brier", "nll")},
    "accuracy_decrease": "accuracy decrease",
}
METRICS: dict[str, str] = {**BASE_METRICS, **DELTA_METRICS}
#: the values a metric can take (lo, hi): a rule's limit must lie within them, or the
#: rule could never fail (or never pass). Deltas may be negative (an improvement).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "ece": (0.0, 1.0), "classwise_ece": (0.0, 1.0), "class_ece": (0.0, 1.0), "mce": (0.0, 1.0),
    "brier": (0.0, math.inf), "nll": (0.0, math.inf), "accuracy": (0.0, 1.0), "samples": (0.0, math.inf),
    "ece_increase": (-1.0, 1.0), "classwise_ece_increase": (-1.0, 1.0), "class_ece_increase": (-1.0, 1.0),
    "mce_increase": (-1.0, 1.0), "accuracy_decrease": (-1.0, 1.0),
    "brier_increase": (-math.inf, math.inf), "nll_increase": (-math.inf, math.inf),
}
OPS = (">=", "<=", ">", "<")
SEVERITIES = ("fail", "warn")
ON_CHOICES = ("point", "upper")
MAX_EXPR_LEN = 200
BOOT_BATCH_CELLS = 2_000_000  # rows x replicates per batch of the bootstrap (memory bound)

#: flag (kebab-case, without dashes) -> (metric, op): the rule fails when ``metric op value``.
FLAG_RULES: dict[str, tuple[str, str]] = {
    "max-ece": ("ece", ">"),
    "max-classwise-ece": ("classwise_ece", ">"),
    "max-class-ece": ("class_ece", ">"),
    "max-mce": ("mce", ">"),
    "max-brier": ("brier", ">"),
    "max-nll": ("nll", ">"),
    "min-accuracy": ("accuracy", "<"),
    "min-samples": ("samples", "<"),
    "max-ece-increase": ("ece_increase", ">"),
    "max-classwise-ece-increase": ("classwise_ece_increase", ">"),
    "max-brier-increase": ("brier_increase", ">"),
    "max-nll-increase": ("nll_increase", ">"),
    "max-accuracy-decrease": ("accuracy_decrease", ">"),
}

_TOKEN_RE = re.compile(
    r"(?P<space>[ \t]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>>=|<=|>|<)"
    r"|(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)",
    re.ASCII,
)


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "op" or "number"
    text: str
    pos: int


@dataclass(frozen=True)
class Rule:
    """One gate rule: fail (or warn) when ``metric op limit``.

    ``source`` says where the rule came from in words (``--max-ece``,
    ``pyproject.toml:12``, ``env CALIB_MAX_ECE``); ``file``/``line`` locate it
    when it came from a config file (used by CI annotations).
    """

    metric: str
    op: str
    limit: float
    severity: str = "fail"
    source: str = "api"
    file: str | None = None
    line: int | None = None

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {format_limit(self.limit)}"


def _expr_error(text: str, pos: int, what: str) -> UsageError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    caret = " " * min(pos, 80) + "^"
    return UsageError(
        f"cannot read the gate rule {shown!r}: {what}.\n  {shown}\n  {caret}\n"
        "A rule is METRIC OP NUMBER, for example 'classwise_ece > 0.03' or 'accuracy < 0.9'; "
        f"OP is one of {', '.join(OPS)}; METRIC is one of {', '.join(METRICS)}."
    )


def tokenize(text: str) -> list[Token]:
    """Split a rule expression into tokens; anything else is an error.

    >>> [t.kind for t in tokenize("ece > 0.05")]
    ['name', 'op', 'number']
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            raise _expr_error(text, pos, f"unexpected character {ch!r} at position {pos + 1}")
        if m.lastgroup != "space":
            tokens.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    return tokens


def parse_rule(text: str, severity: str = "fail", source: str = "api", file: str | None = None, line: int | None = None) -> Rule:
    """Parse ``METRIC OP NUMBER`` into a :class:`Rule`, never evaluating code.

    Raises ``UsageError`` naming the problem and its position.

    >>> parse_rule("classwise_ece > 0.03")
    Rule(metric='classwise_ece', op='>', limit=0.03, severity='fail', source='api', file=None, line=None)
    """
    if not isinstance(text, str):
        raise UsageError(f"a gate rule must be text like 'ece > 0.05', got {text!r}.")
    if severity not in SEVERITIES:
        raise UsageError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}.")
    if len(text) > MAX_EXPR_LEN:
        raise _expr_error(text, MAX_EXPR_LEN, f"it is longer than {MAX_EXPR_LEN} characters")
    if not text.strip():
        raise _expr_error(text, 0, "it is empty")
    tokens = tokenize(text)
    kinds = [t.kind for t in tokens]
    if kinds[:1] != ["name"]:
        raise _expr_error(text, tokens[0].pos, "it must start with a metric name")
    name = tokens[0].text.lower()
    if name not in METRICS:
        close = difflib.get_close_matches(name, list(METRICS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise _expr_error(text, tokens[0].pos, f"unknown metric '{tokens[0].text}'{hint}")
    if len(tokens) < 2 or tokens[1].kind != "op":
        pos = tokens[1].pos if len(tokens) > 1 else len(text)
        raise _expr_error(text, pos, "expected a comparison (>, >=, <, <=) after the metric")
    if len(tokens) < 3 or tokens[2].kind != "number":
        pos = tokens[2].pos if len(tokens) > 2 else len(text)
        raise _expr_error(text, pos, "expected a number after the comparison")
    if len(tokens) > 3:
        raise _expr_error(text, tokens[3].pos, "unexpected text after the number")
    limit = float(tokens[2].text)
    if not math.isfinite(limit):
        raise _expr_error(text, tokens[2].pos, "the number is too large")
    problem = limit_problem(name, limit)
    if problem:
        raise _expr_error(text, tokens[2].pos, problem)
    return Rule(name, tokens[1].text, limit, severity, source, file, line)


def limit_problem(metric: str, limit: float) -> str | None:
    """Why ``limit`` cannot be a limit of ``metric`` (outside the values it takes), or None.

    >>> limit_problem("ece", 5.0)
    'ECE is between 0 and 1, so a limit of 5 makes the rule meaningless (write 0.05 for 5%)'
    >>> limit_problem("ece_increase", -0.01) is None
    True
    """
    lo, hi = METRIC_RANGES[metric]
    if lo <= limit <= hi:
        return None
    label = METRICS[metric]
    where = f"is between {format_limit(lo)} and {format_limit(hi)}" if math.isfinite(hi) else f"is never below {format_limit(lo)}"
    hint = f" (write {format_limit(limit / 100)} for {format_limit(limit)}%)" if hi == 1.0 and 1 < limit <= 100 else ""
    return f"{label} {where}, so a limit of {format_limit(limit)} makes the rule meaningless{hint}"


def rule_from_flag(flag: str, value: float, severity: str = "fail", source: str | None = None,
                   file: str | None = None, line: int | None = None) -> Rule:
    """The rule a threshold flag stands for.

    >>> rule_from_flag("min-accuracy", 0.9).text
    'accuracy < 0.9'
    """
    metric, op = FLAG_RULES[flag]
    where = source or f"--{flag}"
    named = where if where.startswith("--") else f"{where}: '{flag}'"  # a flag, or a config key / variable
    if isinstance(value, bool):
        raise UsageError(f"{named} needs a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise UsageError(f"{named} needs a finite number, got {value!r}.")
    problem = limit_problem(metric, value)
    if problem:
        raise UsageError(f"{named}: {problem}.")
    return Rule(metric, op, value, severity, where, file, line)


def format_limit(x: float) -> str:
    """A limit as the user would write it.

    >>> format_limit(0.05), format_limit(1000.0)
    ('0.05', '1000')
    """
    return f"{x:.12g}"


def format_value(value: float, limit: float) -> str:
    """``value`` with enough digits to see how it compares with ``limit``.

    >>> format_value(0.050123, 0.05)
    '0.05012'
    >>> format_value(0.0500001, 0.05)
    '0.0500001'
    """
    if value == limit:
        return format_limit(value)
    for d in range(4, 17):
        s = f"{value:.{d}g}"
        if float(s) != limit and (float(s) > limit) == (value > limit):
            return s
    return repr(value)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class RuleResult:
    """A rule and its verdict.

    ``value`` is what was compared: the point estimate (``on='point'``) or the
    pessimistic end of the bootstrap interval (``on='upper'``). ``status`` is
    ``pass``, ``fail`` (a fail-severity rule, or any rule under ``--strict``),
    or ``warn`` (a violated warn-severity rule).
    """

    rule: Rule
    value: float | None
    point: float | None
    interval: tuple[float, float] | None
    status: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "metric": r.metric,
            "op": r.op,
            "limit": r.limit,
            "value": self.value,
            "severity": r.severity,
            "status": self.status,
            "source": r.source,
            "file": r.file,
            "line": r.line,
            "point": self.point,
            "interval": None if self.interval is None else list(self.interval),
            "message": self.message,
        }


@dataclass(frozen=True)
class BaselineInfo:
    """How the baseline predictions were matched and what they measured."""

    files: tuple[str, ...]
    matched_by: str  # "id" or "position"
    n_matched: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "matched_by": self.matched_by, "n_matched": self.n_matched, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: ``passed`` is False when any rule has status ``fail``."""

    passed: bool
    on: str
    strict: bool
    seed: int
    replicates: int
    rules: tuple[RuleResult, ...]
    baseline: BaselineInfo | None = None

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status == "fail")

    @property
    def warned(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status == "warn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "on": self.on,
            "strict": self.strict,
            "seed": self.seed,
            "replicates": self.replicates if self.on == "upper" else 0,
            "rules": [r.to_dict() for r in self.rules],
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
        }


@dataclass(frozen=True)
class Baseline:
    """Baseline predictions paired with the audited ones.

    ``new_rows[i]`` and ``old_rows[i]`` index the same item in the audited and
    the baseline predictions.
    """

    predictions: Predictions
    files: tuple[str, ...]
    matched_by: str
    new_rows: np.ndarray
    old_rows: np.ndarray


def _labels_as_names(p: Predictions) -> np.ndarray:
    names = np.asarray(p.classes, dtype=object)
    if p.labels.ndim == 2:
        return p.labels
    return names[p.labels]


def match_baseline(new: Predictions, old: Predictions, files: tuple[str, ...],
                   new_ids: np.ndarray | None = None, old_ids: np.ndarray | None = None) -> Baseline:
    """Pair baseline rows with audited rows: by id when both have ids, else by position.

    By position the row counts must match and the labels must agree, so that a
    reordered or different file is not silently compared.
    """
    where = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
    if tuple(new.classes) != tuple(old.classes):
        raise InputError(f"baseline {where} has classes [{', '.join(old.classes[:8])}] but the audited predictions have "
                         f"[{', '.join(new.classes[:8])}]; a baseline must describe the same classes.")
    if new.task is not old.task:
        raise InputError(f"baseline {where} is a {old.task.value} file but the audited predictions are {new.task.value}.")
    if new_ids is not None and old_ids is not None:
        for ids, what in ((new_ids, "audited predictions"), (old_ids, f"baseline {where}")):
            uniq, counts = np.unique(ids.astype(str), return_counts=True)
            if (counts > 1).any():
                dup = uniq[counts > 1][:3]
                raise InputError(f"the id column of the {what} has repeated ids ({', '.join(map(str, dup))}); ids must be unique to pair rows.")
        new_s, old_s = new_ids.astype(str), old_ids.astype(str)
        common, new_rows, old_rows = np.intersect1d(new_s, old_s, assume_unique=True, return_indices=True)
        if common.size == 0:
            raise InputError(f"no id of the audited predictions appears in the baseline {where}; check --id-col and the baseline file.")
        order = np.argsort(new_rows, kind="stable")
        new_rows, old_rows = new_rows[order], old_rows[order]
        a, b = _labels_as_names(new)[new_rows], _labels_as_names(old)[old_rows]
        bad = np.flatnonzero(np.any(a != b, axis=1) if a.ndim == 2 else a != b)
        if bad.size:
            raise InputError(f"{bad.size} items have different labels in the audited predictions and the baseline {where} "
                             f"(first id: {new_s[new_rows[bad[0]]]}); a baseline must be the same items with the same labels.")
        return Baseline(old, files, "id", new_rows, old_rows)
    if new.n_samples != old.n_samples:
        raise InputError(f"baseline {where} has {old.n_samples:,} rows but the audited predictions have {new.n_samples:,}; "
                         "rows are matched by position unless --id-col names an id column present in both.")
    a, b = _labels_as_names(new), _labels_as_names(old)
    bad = np.flatnonzero(np.any(a != b, axis=1) if a.ndim == 2 else a != b)
    if bad.size:
        raise InputError(f"row {bad[0] + 1} (and {bad.size - 1} more) of the baseline {where} has a different label than the audited "
                         "predictions; rows are matched by position, so the files must list the same items in the same order. "
                         "Pass --id-col to match rows by an id column.")
    idx = np.arange(new.n_samples)
    return Baseline(old, files, "position", idx, idx)


class _Resampler:
    """Per-bin sparse indicators and per-row terms of every metric, so that a
    bootstrap replicate is a reweighting of rows and many replicates are one
    sparse-dense product.

    ``metrics(W, need)`` gives, for each column of ``W`` (row weights: counts of
    a resample), the metrics of the rows so weighted; ``W = 1`` reproduces
    :func:`calibcli.audit.measure`.
    """

    def __init__(self, preds: Predictions, measurement: Measurement):
        from calibcli.binning import assign_bins
        from calibcli.metrics import NLL_CLIP

        self.n = n = preds.n_samples
        k = preds.n_classes
        self.k = k
        top_edges = measurement.reliability.edges
        self.n_top = len(top_edges) - 1
        cls_edges = [c.reliability.edges for c in measurement.classes]
        self.top_label = preds.task is Task.TOP_LABEL
        self.classwise_nan = preds.task is Task.MULTILABEL
        rows = np.arange(n)
        self.row_brier = self.row_nll = None
        if preds.task is Task.MULTILABEL:
            p, y = preds.probs, preds.labels.astype(np.float64)
            self._top = (assign_bins(p.ravel(), top_edges), np.repeat(rows, k), p.ravel(), y.ravel())
            self.n_cls_bins = max(len(e) - 1 for e in cls_edges)
            self._cls = self._per_column(p, y, cls_edges)
            self.correct = np.mean((p >= 0.5) == (y > 0), axis=1)
            pc = np.clip(p, NLL_CLIP, 1 - NLL_CLIP)
            self.row_brier = np.sum((p - y) ** 2, axis=1)
            self.row_nll = -np.sum(y * np.log(pc) + (1 - y) * np.log(1 - pc), axis=1)
            return
        conf, correct = preds.confidence_and_correct()
        top_idx = assign_bins(conf, top_edges)
        self._top = (top_idx, rows, conf, correct.astype(np.float64))
        self.correct = correct.astype(np.float64)
        if self.top_label:
            # per class: top-label statistics of the rows predicted as that class, on the top edges
            self.n_cls_bins = self.n_top
            self._cls = (preds.pred_labels * self.n_top + top_idx, rows, conf, self.correct)
            return
        self.n_cls_bins = max(len(e) - 1 for e in cls_edges)
        onehot = (preds.labels[:, None] == np.arange(k)[None, :]).astype(np.float64)
        self._cls = self._per_column(preds.probs, onehot, cls_edges)
        self.row_brier = np.sum((preds.probs - onehot) ** 2, axis=1)
        if preds.logits is not None:
            z = preds.logits
            zmax = z.max(axis=1)
            lse = zmax + np.log(np.sum(np.exp(z - zmax[:, None]), axis=1))
            self.row_nll = np.minimum(lse - z[rows, preds.labels], -math.log(NLL_CLIP))
        else:
            self.row_nll = -np.log(np.clip(preds.probs[rows, preds.labels], NLL_CLIP, None))

    def _per_column(self, p, y, edges_list):
        from calibcli.binning import assign_bins

        n, k = p.shape
        idx = np.empty((n, k), dtype=np.int64)
        for j in range(k):
            idx[:, j] = assign_bins(p[:, j], edges_list[j]) + j * self.n_cls_bins
        return idx.ravel(), np.repeat(np.arange(n), k), p.ravel(), y.ravel()

    def _matrix(self, which: str):
        """Sparse (3B, n): per bin the indicator, confidence and outcome of each row's items."""
        cache = self.__dict__.setdefault("_mats", {})
        if which not in cache:
            import scipy.sparse as sp

            idx, rows, conf, out = self._top if which == "top" else self._cls
            nb = self.n_top if which == "top" else self.k * self.n_cls_bins
            r = np.concatenate([idx, idx + nb, idx + 2 * nb])
            c = np.concatenate([rows, rows, rows])
            d = np.concatenate([np.ones(idx.size), conf, out])
            cache[which] = (sp.csr_matrix((d, (r, c)), shape=(3 * nb, self.n)), nb)
        return cache[which]

    def metrics(self, W: np.ndarray, need: set[str]) -> dict[str, np.ndarray]:
        """Metrics (arrays of shape (R,)) of the rows weighted by each column of ``W`` (n, R)."""
        out: dict[str, np.ndarray] = {}
        total = W.sum(axis=0)
        if need & {"ece", "mce"}:
            m, nb = self._matrix("top")
            s = np.asarray(m @ W)
            cnt, sc, so = s[:nb], s[nb:2 * nb], s[2 * nb:]
            gap = np.abs(so - sc)
            out["ece"] = gap.sum(axis=0) / cnt.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["mce"] = np.max(np.where(cnt > 0, gap / np.where(cnt > 0, cnt, 1), -np.inf), axis=0)
        if need & {"classwise_ece", "class_ece"}:
            m, kb = self._matrix("cls")
            s = np.asarray(m @ W)
            r = W.shape[1]
            cnt = s[:kb].reshape(self.k, -1, r)
            gap = np.abs(s[2 * kb:] - s[kb:2 * kb]).reshape(self.k, -1, r)
            tot = cnt.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                eces = np.where(tot > 0, gap.sum(axis=1) / np.where(tot > 0, tot, 1), np.nan)  # (K, R)
            if not self.top_label:
                out["classwise_ece"] = np.nanmean(eces, axis=0) if self.classwise_nan else np.mean(eces, axis=0)
            with np.errstate(invalid="ignore"):
                out["class_ece"] = np.where(np.isfinite(eces).any(axis=0), np.nanmax(np.where(np.isfinite(eces), eces, -np.inf), axis=0), np.nan)
        if "accuracy" in need:
            out["accuracy"] = self.correct @ W / total
        if "brier" in need and self.row_brier is not None:
            out["brier"] = self.row_brier @ W / total
        if "nll" in need and self.row_nll is not None:
            out["nll"] = self.row_nll @ W / total
        return out


def _replicate_weights(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """(n, count) resample counts: column j counts how often each row was drawn in replicate j."""
    W = np.empty((n, count))
    for j in range(count):
        W[:, j] = np.bincount(rng.integers(0, n, n), minlength=n)
    return W


def _bootstrap(resamplers: list[_Resampler], combine, need: set[str], seed_seq, replicates: int) -> dict[str, np.ndarray]:
    """Replicate values of ``combine(*[r.metrics(W) for r in resamplers])`` for each needed metric.

    All resamplers share the same weights (a paired bootstrap); replicates are
    drawn in batches whose size does not change the draws.
    """
    rng = np.random.default_rng(seed_seq)
    n = resamplers[0].n
    batch = max(1, min(replicates, BOOT_BATCH_CELLS // max(n, 1)))
    vals: dict[str, list[np.ndarray]] = {m: [] for m in need}
    done = 0
    while done < replicates:
        W = _replicate_weights(rng, n, min(batch, replicates - done))
        got = combine(*[r.metrics(W, need) for r in resamplers])
        for m in need:
            vals[m].append(got.get(m, np.full(W.shape[1], np.nan)))
        done += W.shape[1]
    return {m: np.concatenate(v) for m, v in vals.items()}


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    lo, hi = np.quantile(v, [0.025, 0.975])
    return float(lo), float(hi)


def point_metrics(measurement: Measurement, n_samples: int) -> dict[str, float | None]:
    """Every base metric of a measurement, ``None`` where undefined."""
    m = measurement.metrics
    eces = [c.ece for c in measurement.classes if c.ece is not None]
    return {
        "ece": m.ece, "classwise_ece": m.classwise_ece, "class_ece": max(eces) if eces else None,
        "mce": m.mce, "brier": m.brier, "nll": m.nll, "accuracy": m.accuracy, "samples": float(n_samples),
    }


def worst_class(measurement: Measurement) -> str | None:
    """The class (or label) with the largest ECE: the one a ``class_ece`` rule is about."""
    best, name = -math.inf, None
    for c in measurement.classes:
        if c.ece is not None and math.isfinite(c.ece) and c.ece > best:
            best, name = c.ece, c.name
    return name


def _class_words(preds: Predictions, name: str | None) -> str:
    if name is None:
        return ""
    return f" ({'label' if preds.task is Task.MULTILABEL else 'class'} {str(name)!r})"


def _none_if_nan(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _violated(value: float, op: str, limit: float) -> bool:
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]


def _delta(metric: str, new: float | None, old: float | None) -> float | None:
    if new is None or old is None:
        return None
    return old - new if metric == "accuracy" else new - old


def evaluate_gate(
    preds: Predictions,
    measurement: Measurement,
    rules: list[Rule] | tuple[Rule, ...],
    *,
    on: str = "point",
    strict: bool = False,
    seed: int = 0,
    replicates: int = 200,
    n_bins: int = 15,
    strategy: str = "uniform",
    baseline: Baseline | None = None,
) -> GateResult:
    """Evaluate gate rules against audited predictions.

    Parameters
    ----------
    preds, measurement : the audited predictions and their measurement.
    rules : the rules; an empty list passes.
    on : 'point' compares point estimates; 'upper' the pessimistic end of a
        percentile-bootstrap 95% interval of ``replicates`` resamples drawn with
        ``numpy.random.default_rng(seed)`` (the same seed gives the same verdict).
    strict : warn-severity rules fail too.
    n_bins, strategy : binning of the baseline measurement.
    baseline : paired baseline predictions; required by ``*_increase`` rules.

    Examples
    --------
    >>> from calibcli.audit import measure
    >>> from calibcli.predictions import ScoreKind
    >>> p = Predictions(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    >>> g = evaluate_gate(p, measure(p, 5), [parse_rule("accuracy < 0.9")])
    >>> g.passed, g.rules[0].value
    (False, 0.5)
    """
    if on not in ON_CHOICES:
        raise UsageError(f"--on must be one of {', '.join(ON_CHOICES)}, got {on!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"the gate seed must be a whole number >= 0, got {seed!r}.")
    if replicates < 10:
        raise UsageError(f"the bootstrap needs at least 10 replicates, got {replicates}.")
    base_needed = {r.metric for r in rules if r.metric in BASE_METRICS}
    delta_needed = {r.metric.rsplit("_", 1)[0] for r in rules if r.metric in DELTA_METRICS}
    if delta_needed and baseline is None:
        names = ", ".join(sorted(r.metric for r in rules if r.metric in DELTA_METRICS))
        raise UsageError(f"the rule(s) on {names} compare with a baseline; pass --baseline OLD_PREDICTIONS (and --id-col to match rows by id).")

    point = point_metrics(measurement, preds.n_samples)
    base_info = None
    delta_point: dict[str, float | None] = {}
    new_sub = old_sub = None
    if baseline is not None:
        from calibcli.audit import measure

        same = baseline.new_rows.size == preds.n_samples and np.array_equal(baseline.new_rows, np.arange(preds.n_samples))
        new_sub = preds if same else preds.subset(baseline.new_rows)
        old_sub = baseline.predictions.subset(baseline.old_rows)
        m_new = measurement if new_sub is preds else measure(new_sub, n_bins, strategy)
        m_old = measure(old_sub, n_bins, strategy)
        pn, po = point_metrics(m_new, new_sub.n_samples), point_metrics(m_old, old_sub.n_samples)
        delta_point = {m: _delta(m, _none_if_nan(pn[m]), _none_if_nan(po[m])) for m in BASE_METRICS}
        base_info = BaselineInfo(baseline.files, baseline.matched_by, int(baseline.new_rows.size),
                                 {m: _none_if_nan(v) for m, v in po.items() if m != "samples"})
        new_meas_sub, old_meas = m_new, m_old
        new_worst, old_worst = worst_class(m_new), worst_class(m_old)
        about_delta = _class_words(preds, new_worst)
        if about_delta and old_worst is not None and old_worst != new_worst:
            about_delta = about_delta[:-1] + f"; the baseline's worst: {str(old_worst)!r})"

    intervals: dict[str, tuple[float, float] | None] = {}
    if on == "upper" and rules:
        seq_base, seq_delta = np.random.SeedSequence(seed).spawn(2)
        boot_base = base_needed - {"samples"}
        boot_delta = delta_needed - {"samples"}
        if boot_base:
            reps = _bootstrap([_Resampler(preds, measurement)], lambda a: a, boot_base, seq_base, replicates)
            intervals.update({m: _interval(v) for m, v in reps.items()})
        if boot_delta:

            def deltas(a, b):
                return {m: (b[m] - a[m] if m == "accuracy" else a[m] - b[m]) for m in boot_delta if m in a and m in b}

            reps = _bootstrap([_Resampler(new_sub, new_meas_sub), _Resampler(old_sub, old_meas)], deltas, boot_delta,
                              seq_delta, replicates)
            intervals.update({DELTA_NAME[m]: _interval(v) for m, v in reps.items()})

    about = {"class_ece": _class_words(preds, worst_class(measurement))}
    if baseline is not None:
        about["class_ece_increase"] = about_delta
    results = []
    for r in rules:
        if r.metric in DELTA_METRICS:
            pt = delta_point.get(r.metric.rsplit("_", 1)[0])
        else:
            pt = _none_if_nan(point.get(r.metric))
        iv = intervals.get(r.metric) if on == "upper" else None
        if pt is None:
            value = None
        elif iv is None:
            value = pt
        else:
            value = iv[1] if r.op in (">", ">=") else iv[0]
        results.append(_judge(r, value, pt, iv, strict, about.get(r.metric, "")))
    passed = not any(x.status == "fail" for x in results)
    return GateResult(passed, on, strict, seed, replicates, tuple(results), base_info)


DELTA_NAME = {m.rsplit("_", 1)[0]: m for m in DELTA_METRICS}


def _judge(rule: Rule, value: float | None, point: float | None, interval, strict: bool, about: str = "") -> RuleResult:
    """The verdict and its message; ``about`` names what the value is about (``" (class 'cat')"``)."""
    label = METRICS[rule.metric]
    word = {">": " max", ">=": "", "<": " min", "<=": ""}[rule.op]
    if value is None:
        violated = True
        msg = f"{label} is not defined for this input, so the rule '{rule.text}' cannot pass"
    else:
        violated = _violated(value, rule.op, rule.limit)
        shown = format_value(value, rule.limit)
        if violated:
            msg = f"{label} {shown}{about} {rule.op}{word} {format_limit(rule.limit)}"
        else:
            ok = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[rule.op]
            msg = f"{label} {shown}{about} {ok}{word} {format_limit(rule.limit)}"
        if interval is not None:
            end = "upper" if rule.op in (">", ">=") else "lower"
            msg += f" [{end} end of bootstrap 95% interval; point {format_value(point, rule.limit)}]"
    status = "pass" if not violated else ("fail" if rule.severity == "fail" or strict else "warn")
    return RuleResult(rule, value, point, interval, status, f"{msg} ({rule.source})")
