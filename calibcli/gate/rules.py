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
#: metrics of one subgroup named in brackets (``group_ece[region=south]``): rule metric -> the group's metric
GROUP_METRICS: dict[str, str] = {f"group_{m}": m for m in ("ece", "ece_top_label", "classwise_ece", "mce", "brier", "nll", "accuracy")}
#: rules that need ``--by`` (the audit's subgroups)
ON_GROUPS = frozenset({"worst_group_ece", *GROUP_METRICS})
DELTA_METRICS: dict[str, str] = {
    **{f"{m}_increase": f"{BASE_METRICS[m]} increase" for m in ("ece", "classwise_ece", "class_ece", "mce", "brier", "nll")},
    "accuracy_decrease": "accuracy decrease",
}
METRICS: dict[str, str] = {**BASE_METRICS, "worst_group_ece": "worst group's ECE", **{k: f"group {BASE_METRICS[m]}" for k, m in GROUP_METRICS.items()}, **DELTA_METRICS}
#: every metric a rule may name (the JSON schema's enum)
RULE_METRICS: tuple[str, ...] = tuple(METRICS)
#: the values a metric can take (lo, hi): a rule's limit must lie within them, or the
#: rule could never fail (or never pass). Deltas may be negative (an improvement).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "ece": (0.0, 1.0), "ece_top_label": (0.0, 1.0), "classwise_ece": (0.0, 1.0), "class_ece": (0.0, 1.0), "mce": (0.0, 1.0),
    "brier": (0.0, math.inf), "nll": (0.0, math.inf), "accuracy": (0.0, 1.0), "samples": (0.0, math.inf),
    "worst_group_ece": (0.0, 1.0),
    "ece_increase": (-1.0, 1.0), "classwise_ece_increase": (-1.0, 1.0), "class_ece_increase": (-1.0, 1.0),
    "mce_increase": (-1.0, 1.0), "accuracy_decrease": (-1.0, 1.0),
    "brier_increase": (-math.inf, math.inf), "nll_increase": (-math.inf, math.inf),
}
METRIC_RANGES.update({k: METRIC_RANGES[m] for k, m in GROUP_METRICS.items()})
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
    kind: str  # "name", "op", "number" or "selector" (the text between [ and ])
    text: str
    pos: int


#: a group selector: ((column, value), ...); column "" stands for the only --by column
Selector = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Rule:
    """One gate rule: fail (or warn) when ``metric op limit``.

    ``source`` says where the rule came from in words (``--max-ece``,
    ``pyproject.toml:12``, ``env CALIB_MAX_ECE``); ``file``/``line`` locate it
    when it came from a config file (used by CI annotations). ``group`` selects
    one subgroup for the ``group_*`` metrics (``group_ece[region=south]``).
    """

    metric: str
    op: str
    limit: float
    severity: str = "fail"
    source: str = "api"
    file: str | None = None
    line: int | None = None
    group: Selector | None = None

    @property
    def text(self) -> str:
        sel = "" if self.group is None else f"[{format_selector(self.group)}]"
        return f"{self.metric}{sel} {self.op} {format_limit(self.limit)}"

    @property
    def label(self) -> str:
        """The metric in words, naming the group: ``ECE of group region=south``."""
        if self.group is None:
            return METRICS[self.metric]
        return f"{BASE_METRICS[GROUP_METRICS[self.metric]]} of group {format_selector(self.group, ', ')}"

    @property
    def on_groups(self) -> bool:
        """Whether the rule needs the audit's subgroups (``--by``)."""
        return self.metric in ON_GROUPS


_EXAMPLES = ("A rule is METRIC OP NUMBER, for example 'classwise_ece > 0.03' or 'accuracy < 0.9'; "
             "on subgroups (with --by) 'worst_group_ece > 0.05' or 'group_ece[region=south] > 0.05'")


def _expr_error(text: str, pos: int, what: str) -> UsageError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    caret = " " * min(pos, 80) + "^"
    return UsageError(
        f"cannot read the gate rule {shown!r}: {what}.\n  {shown}\n  {caret}\n"
        f"{_EXAMPLES}; OP is one of {', '.join(OPS)}; METRIC is one of {', '.join(METRICS)}."
    )


def _selector_end(text: str, start: int) -> int:
    """The position of the ``]`` closing the selector opened at ``start`` (quotes may hold any character)."""
    pos, quote = start + 1, None
    while pos < len(text):
        ch = text[pos]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "]":
            return pos
        elif ch == "[":
            raise _expr_error(text, pos, "unexpected '[' inside a group selector (quote a value that holds brackets)")
        pos += 1
    if quote:
        raise _expr_error(text, len(text), f"the quote {quote} in the group selector is never closed")
    raise _expr_error(text, len(text), "the group selector '[' is never closed by ']'")


def tokenize(text: str) -> list[Token]:
    """Split a rule expression into tokens; anything else is an error.

    >>> [t.kind for t in tokenize("ece > 0.05")]
    ['name', 'op', 'number']
    >>> [(t.kind, t.text) for t in tokenize("group_ece[region=south] > 0.05")][:2]
    [('name', 'group_ece'), ('selector', 'region=south')]
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "[":
            end = _selector_end(text, pos)
            tokens.append(Token("selector", text[pos + 1:end], pos))
            pos = end + 1
            continue
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            raise _expr_error(text, pos, f"unexpected character {ch!r} at position {pos + 1}")
        if m.lastgroup != "space":
            tokens.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    return tokens


def _split_outside_quotes(s: str, sep: str) -> list[tuple[str, int]]:
    """``s`` split at ``sep`` outside quotes: (part, its offset in ``s``)."""
    parts, start, quote = [], 0, None
    for i, ch in enumerate(s):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append((s[start:i], start))
            start = i + 1
    parts.append((s[start:], start))
    return parts


def _unquote(part: str, text: str, pos: int) -> str:
    """A column or value of a selector: stripped; in quotes it is taken as written."""
    p = part.strip()
    if p[:1] in ("'", '"'):
        if len(p) < 2 or p[-1] != p[0] or p[0] in p[1:-1]:
            raise _expr_error(text, pos, f"cannot read {p!r}: a quoted value starts and ends with the same quote")
        return p[1:-1]
    if any(ch in p for ch in "'\"="):
        raise _expr_error(text, pos, f"cannot read {p!r}: quote a value that holds quotes or '='")
    return p


def parse_selector(inner: str, text: str | None = None, pos: int = 0) -> Selector:
    """A group selector (the text between brackets) as ``((column, value), ...)``.

    ``COL=VALUE`` pairs joined by commas select an intersection of ``--by`` columns;
    a lone ``VALUE`` selects a value of the only ``--by`` column (column ``""``).
    Values that hold commas, brackets, quotes or ``=`` (``--by-bins`` buckets such as
    ``(0.2, 0.5]``) are written in quotes.

    >>> parse_selector("region=south, tier=gold")
    (('region', 'south'), ('tier', 'gold'))
    >>> parse_selector("score='(0.2, 0.5]'")
    (('score', '(0.2, 0.5]'),)
    """
    text = f"[{inner}]" if text is None else text
    out: list[tuple[str, str]] = []
    for part, off in _split_outside_quotes(inner, ","):
        at = pos + 1 + off
        if not part.strip():
            raise _expr_error(text, at, "a group selector needs COLUMN=VALUE (commas join columns)")
        pieces = _split_outside_quotes(part, "=")
        if len(pieces) > 2:
            raise _expr_error(text, at, f"cannot read {part.strip()!r}: one '=' per COLUMN=VALUE (quote a value that holds '=')")
        if len(pieces) == 1:
            col, value = "", _unquote(part, text, at)
        else:
            col, value = _unquote(pieces[0][0], text, at), _unquote(pieces[1][0], text, at + pieces[1][1])
            if not col:
                raise _expr_error(text, at, "a column name is missing before '='")
        if col and any(c == col for c, _ in out):
            raise _expr_error(text, at, f"the column {col or 'of --by'!r} is named twice in the group selector")
        out.append((col, value))
    if len(out) > 1 and any(c == "" for c, _ in out):
        raise _expr_error(text, pos, "with several values every one needs its column: COL=VALUE,COL=VALUE")
    return tuple(out)


def format_selector(group: Selector, sep: str = ",") -> str:
    """A selector as it is written in a rule (values quoted where needed).

    >>> format_selector((("region", "south"), ("score", "(0.2, 0.5]")))
    "region=south,score='(0.2, 0.5]'"
    """
    def q(s: str) -> str:
        if s and s == s.strip() and not any(ch in s for ch in ",[]='\""):
            return s
        return f'"{s}"' if "'" in s else f"'{s}'"

    return sep.join(q(v) if not c else f"{q(c)}={q(v)}" for c, v in group)


def parse_rule(text: str, severity: str = "fail", source: str = "api", file: str | None = None, line: int | None = None) -> Rule:
    """Parse ``METRIC OP NUMBER`` into a :class:`Rule`, never evaluating code.

    Raises ``UsageError`` naming the problem and its position.

    >>> parse_rule("classwise_ece > 0.03")
    Rule(metric='classwise_ece', op='>', limit=0.03, severity='fail', source='api', file=None, line=None, group=None)
    >>> parse_rule("group_ece[region=south, tier=gold] > 0.05").text
    'group_ece[region=south,tier=gold] > 0.05'
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
    if tokens[0].kind != "name":
        raise _expr_error(text, tokens[0].pos, "it must start with a metric name")
    name = tokens[0].text.lower()
    if name not in METRICS:
        close = difflib.get_close_matches(name, list(METRICS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise _expr_error(text, tokens[0].pos, f"unknown metric '{tokens[0].text}'{hint}")
    group = None
    if len(tokens) > 1 and tokens[1].kind == "selector":
        if name not in GROUP_METRICS:
            what = ("the worst group is found among all groups, so it takes no [group]; "
                    "to name one group write group_ece[COL=VALUE]") if name == "worst_group_ece" else \
                f"only the group_* metrics ({', '.join(GROUP_METRICS)}) take a [group]"
            raise _expr_error(text, tokens[1].pos, what)
        group = parse_selector(tokens[1].text, text, tokens[1].pos)
        tokens = tokens[:1] + tokens[2:]
    elif name in GROUP_METRICS:
        pos = tokens[1].pos if len(tokens) > 1 else len(text)
        raise _expr_error(text, pos, f"{name} needs the group in brackets, for example {name}[region=south]")
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
    return Rule(name, tokens[1].text, limit, severity, source, file, line, group)


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
