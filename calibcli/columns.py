"""Which columns hold labels and scores, which task they describe, and the class names."""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from calibcli.errors import InputError
from calibcli.predictions import ScoreKind, Task

PROB_PREFIXES = ("p_", "prob_", "proba_")
LOGIT_PREFIXES = ("logit_",)
LABEL_PREFIX = "y_"
CALIBRATED_PREFIX = "p_cal_"  # written by `calib apply`; never picked up by default
TOP_LABEL_COLS = ("confidence", "pred_label")


@dataclass(frozen=True)
class ColumnSpec:
    """Where the data of one audit lives in the input columns."""

    task: Task
    score_cols: tuple[str, ...]
    classes: tuple[str, ...]
    prefix_kind: ScoreKind | None
    label_col: str | None = None
    label_cols: tuple[str, ...] = ()  # multilabel y_<name>
    pred_label_col: str | None = None  # top-label

    @property
    def needed(self) -> list[str]:
        cols = list(self.score_cols) + list(self.label_cols)
        if self.label_col:
            cols.append(self.label_col)
        if self.pred_label_col:
            cols.append(self.pred_label_col)
        return cols


def strip_prefix(name: str) -> tuple[str, ScoreKind | None]:
    """Class name and score kind a column's prefix implies (None without a known prefix).

    >>> strip_prefix("logit_cat")
    ('cat', <ScoreKind.LOGITS: 'logits'>)
    """
    for pre in LOGIT_PREFIXES:
        if name.startswith(pre) and len(name) > len(pre):
            return name[len(pre):], ScoreKind.LOGITS
    for pre in sorted(PROB_PREFIXES, key=len, reverse=True):
        if name.startswith(pre) and len(name) > len(pre):
            return name[len(pre):], ScoreKind.PROBS
    return name, None


def _glob_suffix(name: str, patterns: tuple[str, ...]) -> str:
    """Class name of an explicitly chosen column: what its glob's literal prefix leaves.

    >>> _glob_suffix("score_cat", ("score_*",))
    'cat'
    """
    for pat in patterns:
        cut = min((pat.index(ch) for ch in "*?[" if ch in pat), default=None)
        if cut and name.startswith(pat[:cut]) and fnmatch.fnmatchcase(name, pat) and len(name) > cut:
            return name[cut:]
    return name


def _closest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def match_columns(names: list[str], patterns: tuple[str, ...], source: str) -> list[str]:
    """The columns ``--score-cols`` picks: names or globs, in pattern order, no repeats.

    >>> match_columns(["label", "s_b", "s_a"], ("s_*",), "f.csv")
    ['s_b', 's_a']
    """
    picked: list[str] = []
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)] if any(c in pat for c in "*?[") else [pat] if pat in names else []
        if not hits:
            raise InputError(
                f"{source}: --score-cols names '{pat}', which matches no column.{_closest(pat, names)} "
                f"The columns are: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}."
            )
        picked += [h for h in hits if h not in picked]
    return picked


def prefix_kind(columns: list[str] | tuple[str, ...]) -> ScoreKind | None:
    """The score kind all the columns' prefixes agree on, else None.

    >>> prefix_kind(["p_a", "prob_b"]), prefix_kind(["p_a", "logit_b"])
    (<ScoreKind.PROBS: 'probs'>, None)
    """
    kinds = {strip_prefix(c)[1] for c in columns}
    return kinds.pop() if len(kinds) == 1 else None


def _find_score_cols(names: list[str], score_cols: tuple[str, ...] | None, source: str) -> list[str]:
    if score_cols:
        return match_columns(names, score_cols, source)
    groups: dict[str, list[str]] = {}
    for n in names:
        if n.startswith(CALIBRATED_PREFIX):
            continue
        for pre in LOGIT_PREFIXES + tuple(sorted(PROB_PREFIXES, key=len, reverse=True)):
            if n.startswith(pre) and len(n) > len(pre):
                groups.setdefault(pre, []).append(n)
                break
    if len(groups) > 1:
        desc = "; ".join(f"{pre}*: {', '.join(cols[:4])}{' ...' if len(cols) > 4 else ''}" for pre, cols in groups.items())
        raise InputError(
            f"{source}: score columns with several prefixes were found ({desc}). "
            "Say which to use with --score-cols, e.g. --score-cols 'logit_*'."
        )
    return next(iter(groups.values()), [])


def resolve_columns(
    names: list[str],
    source: str,
    label_col: str = "label",
    score_cols: tuple[str, ...] | None = None,
    classes: tuple[str, ...] | None = None,
    task: Task | None = None,
) -> ColumnSpec:
    """Decide the task and the columns from the column names alone.

    Parameters
    ----------
    names : column names of the input.
    source : the file name, for messages.
    label_col : name of the label column (multiclass, binary, top-label).
    score_cols : explicit score column names or globs; default: by prefix.
    classes : class names fixing the column order; default: the file's order.
    task : force a task instead of detecting it.

    Examples
    --------
    >>> spec = resolve_columns(["label", "p_cat", "p_dog"], "f.csv")
    >>> spec.task.value, spec.classes
    ('binary', ('cat', 'dog'))
    """
    has_top = all(c in names for c in TOP_LABEL_COLS)
    found = [] if (task is Task.TOP_LABEL) else _find_score_cols(names, score_cols, source)
    if task is Task.TOP_LABEL or (task is None and not found and has_top):
        missing = [c for c in ("confidence", "pred_label", label_col) if c not in names]
        if missing:
            raise InputError(
                f"{source}: a top-label file needs the columns confidence, pred_label and {label_col}; "
                f"missing: {', '.join(missing)}.{_closest(missing[0], names)}"
            )
        return ColumnSpec(Task.TOP_LABEL, ("confidence",), (), ScoreKind.PROBS, label_col, (), "pred_label")
    if not found:
        raise InputError(
            f"{source}: no score columns found. Name them p_<class> (or prob_, proba_) for probabilities "
            f"or logit_<class> for logits, or pick them with --score-cols; for top-label files give "
            f"confidence and pred_label. The columns are: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}."
        )
    stripped = [strip_prefix(c) for c in found]
    if score_cols and any(k is None for _, k in stripped):
        stripped = [(_glob_suffix(c, score_cols), k) for c, k in stripped]
    kind = prefix_kind(found)
    suffixes = [s for s, _ in stripped]
    if len(set(suffixes)) != len(suffixes):
        suffixes = list(found)
    if classes:
        classes = tuple(classes)
        missing = [c for c in classes if c not in suffixes]
        extra = [s for s in suffixes if s not in classes]
        if missing or extra:
            raise InputError(
                f"{source}: --classes does not match the score columns "
                f"({'no column for ' + ', '.join(missing) if missing else ''}"
                f"{'; ' if missing and extra else ''}{'columns not in --classes: ' + ', '.join(extra) if extra else ''}). "
                f"The score columns give the classes {', '.join(suffixes)}."
            )
        order = [suffixes.index(c) for c in classes]
        found = [found[i] for i in order]
        suffixes = list(classes)
    label_cols = tuple(f"{LABEL_PREFIX}{s}" for s in suffixes)
    has_ml = all(c in names for c in label_cols)
    if task is Task.MULTILABEL or (task is None and label_col not in names and has_ml):
        missing = [c for c in label_cols if c not in names]
        if missing:
            raise InputError(
                f"{source}: a multilabel file pairs each score column with a 0/1 label column y_<name>; "
                f"missing: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}."
            )
        return ColumnSpec(Task.MULTILABEL, tuple(found), tuple(suffixes), kind, None, label_cols)
    if label_col not in names:
        hint = _closest(label_col, names)
        raise InputError(
            f"{source}: no label column '{label_col}'.{hint} Name the true-label column with --label-col, "
            "or for multilabel files give one y_<name> column per score column."
        )
    if task is None:
        task = Task.BINARY if len(found) <= 2 else Task.MULTICLASS
    if task is Task.BINARY and len(found) > 2:
        raise InputError(f"{source}: --task binary needs one or two score columns, found {len(found)}: {', '.join(found[:5])}.")
    if task is Task.MULTICLASS and len(found) < 2:
        raise InputError(f"{source}: --task multiclass needs at least two score columns, found {len(found)}.")
    return ColumnSpec(task, tuple(found), tuple(suffixes), kind, label_col)
