"""Gate rules: the metrics a rule may name, the tiny rule grammar (never ``eval``), and how limits print.

A rule says when to fail: ``metric op limit`` (``ece > 0.05``). Rules come from
flags (``--max-ece 0.05``), from ``--fail-if``/``--warn-if`` expressions written
in the grammar parsed here, or from a config file. Each rule carries its
severity (``fail`` or ``warn``) and where it came from.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from calibcli.errors import UsageError

#: metric name -> (display label, the comparison that means "bad" for --max/--min flags)
BASE_METRICS: dict[str, str] = {
    "ece": "ECE",
    "ece_top_label": "top-label ECE",
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
    "ece": (0.0, 1.0), "ece_top_label": (0.0, 1.0), "classwise_ece": (0.0, 1.0), "class_ece": (0.0, 1.0), "mce": (0.0, 1.0),
    "brier": (0.0, math.inf), "nll": (0.0, math.inf), "accuracy": (0.0, 1.0), "samples": (0.0, math.inf),
    "ece_increase": (-1.0, 1.0), "classwise_ece_increase": (-1.0, 1.0), "class_ece_increase": (-1.0, 1.0),
    "mce_increase": (-1.0, 1.0), "accuracy_decrease": (-1.0, 1.0),
    "brier_increase": (-math.inf, math.inf), "nll_increase": (-math.inf, math.inf),
}
OPS = (">=", "<=", ">", "<")
SEVERITIES = ("fail", "warn")
ON_CHOICES = ("point", "upper")
MAX_EXPR_LEN = 200

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
