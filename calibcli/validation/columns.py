"""Which columns hold labels and scores, which task they describe, and the class names."""

from __future__ import annotations

import difflib
import fnmatch
import shlex
from collections import Counter
from dataclasses import dataclass

from calibcli.errors import InputError
from calibcli.predictions import ScoreKind, Task

PROB_PREFIXES = ("p_", "prob_", "proba_")
LOGIT_PREFIXES = ("logit_",)
LABEL_PREFIX = "y_"
CALIBRATED_PREFIX = "p_cal_"  # written by `calib apply`; audited only when chosen (or when no raw scores exist)
TOP_LABEL_COLS = ("confidence", "pred_label")
LABEL_ALIASES = ("label", "target", "y", "class", "truth", "labels", "y_true", "true_label", "ground_truth", "gt", "targets")


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
    notes: tuple[str, ...] = ()  # what the reader should know about the choice (shown as warnings)

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

    ``p_cal_<c>`` (written by ``calib apply``) is class ``c``, never ``cal_<c>``.

    >>> strip_prefix("logit_cat"), strip_prefix("p_cal_cat")
    (('cat', <ScoreKind.LOGITS: 'logits'>), ('cat', <ScoreKind.PROBS: 'probs'>))
    """
    if name.startswith(CALIBRATED_PREFIX) and len(name) > len(CALIBRATED_PREFIX):
        return name[len(CALIBRATED_PREFIX):], ScoreKind.PROBS
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


def _shown(cols: list[str] | tuple[str, ...], k: int = 4) -> str:
    return ", ".join(cols[:k]) + (" ..." if len(cols) > k else "")


def _find_score_cols(names: list[str], score_cols: tuple[str, ...] | None, source: str) -> tuple[list[str], tuple[str, ...]]:
    """The score columns and notes on the choice.

    Without ``--score-cols``: the columns with one score prefix; calibrated
    ``p_cal_*`` columns (from ``calib apply``) only when there are no raw ones,
    and a note naming them when both exist.
    """
    if score_cols:
        return match_columns(names, score_cols, source), ()
    groups: dict[str, list[str]] = {}
    calibrated = [n for n in names if n.startswith(CALIBRATED_PREFIX) and len(n) > len(CALIBRATED_PREFIX)]
    for n in names:
        if n.startswith(CALIBRATED_PREFIX):
            continue
        for pre in LOGIT_PREFIXES + tuple(sorted(PROB_PREFIXES, key=len, reverse=True)):
            if n.startswith(pre) and len(n) > len(pre):
                groups.setdefault(pre, []).append(n)
                break
    if len(groups) > 1:
        desc = "; ".join(f"{pre}*: {_shown(cols)}" for pre, cols in groups.items())
        raise InputError(
            f"{source}: score columns with several prefixes were found ({desc}). "
            "Say which to use with --score-cols, e.g. --score-cols 'logit_*'."
        )
    found = next(iter(groups.values()), [])
    if not calibrated:
        return found, ()
    if not found:
        return calibrated, (
            f"the only score columns are the calibrated ones ({_shown(calibrated)}, written by calib apply); they are audited",
        )
    return found, (
        f"the raw score columns ({_shown(found)}) are audited; the file also has calibrated columns "
        f"({_shown(calibrated)}, written by calib apply). To audit those, pass --score-cols '{CALIBRATED_PREFIX}*'",
    )


def _quote(name: str) -> str:
    return shlex.quote(name)


def _label_hint(label_col: str, names: list[str], exclude: list[str]) -> str:
    """A "did you mean" for a missing label column: a usual label name (any case), else a close spelling."""
    candidates = [n for n in names if n not in exclude]
    lower: dict[str, str] = {}
    for n in candidates:
        lower.setdefault(n.lower(), n)
    for alias in (label_col.lower(), *LABEL_ALIASES):
        hit = lower.get(alias)
        if hit is not None and hit != label_col:
            return f" Did you mean '{hit}'? Pass --label-col {_quote(hit)}."
    close = difflib.get_close_matches(label_col, candidates, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'? Pass --label-col {_quote(close[0])}." if close else ""


def check_duplicates(names: list[str], label_col: str, score_cols: tuple[str, ...] | None, source: str) -> None:
    """Column names calib may use must appear once in the header."""
    counts = Counter(names)
    dup = [n for n, c in counts.items() if c > 1]
    if not dup:
        return

    def used(n: str) -> bool:
        if n == label_col or n in TOP_LABEL_COLS or n.startswith(LABEL_PREFIX):
            return True
        if score_cols:
            return any(fnmatch.fnmatchcase(n, p) for p in score_cols)
        return strip_prefix(n)[1] is not None

    bad = [n for n in dup if used(n)]
    if bad:
        desc = ", ".join(f"'{n}' ({counts[n]} times)" for n in bad[:5])
        raise InputError(
            f"{source}: the column name{'s' if len(bad) > 1 else ''} {desc} appear{'' if len(bad) > 1 else 's'} more than "
            "once in the header, so calib cannot tell which column to use. Rename or remove the repeated "
            f"column{'s' if len(bad) > 1 else ''} in the file."
        )


def check_roles(spec: ColumnSpec, source: str, id_col: str | None = None) -> None:
    """No column may serve two roles (label, score, predicted label, id).

    >>> spec = ColumnSpec(Task.BINARY, ("p_a", "p_b"), ("a", "b"), ScoreKind.PROBS, "label")
    >>> check_roles(spec, "f.csv", id_col="p_a")
    Traceback (most recent call last):
    ...
    calibcli.errors.InputError: f.csv: column 'p_a' is used both as a score column and as the row id (--id-col). Give each role its own column: leave it out of --score-cols, or pick another --id-col.
    """
    roles = [(c, "a score column", "leave it out of --score-cols") for c in spec.score_cols]
    if spec.label_col:
        roles.append((spec.label_col, "the label column (--label-col)", "pick another --label-col"))
    roles += [(c, "a multilabel label column", "rename it") for c in spec.label_cols]
    if spec.pred_label_col:
        roles.append((spec.pred_label_col, "the predicted-label column", "rename it"))
    if id_col:
        roles.append((id_col, "the row id (--id-col)", "pick another --id-col"))
    seen: dict[str, tuple[str, str]] = {}
    for col, role, fix in roles:
        if col in seen and seen[col][0] != role:
            first_role, first_fix = seen[col]
            fixes = first_fix if first_fix == fix else f"{first_fix}, or {fix}"
            raise InputError(
                f"{source}: column '{col}' is used both as {first_role} and as {role}. "
                f"Give each role its own column: {fixes}."
            )
        seen.setdefault(col, (role, fix))


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

    Raises
    ------
    InputError
        When the columns are missing, repeated, ambiguous, or one column is given two roles.

    Examples
    --------
    >>> spec = resolve_columns(["label", "p_cat", "p_dog"], "f.csv")
    >>> spec.task.value, spec.classes
    ('binary', ('cat', 'dog'))
    """
    check_duplicates(list(names), label_col, score_cols, source)
    spec = _resolve(list(names), source, label_col, score_cols, classes, task)
    check_roles(spec, source)
    return spec


def _resolve(names, source, label_col, score_cols, classes, task) -> ColumnSpec:
    has_top = all(c in names for c in TOP_LABEL_COLS)
    found, notes = ([], ()) if (task is Task.TOP_LABEL) else _find_score_cols(names, score_cols, source)
    if task is Task.TOP_LABEL or (task is None and not found and has_top):
        missing = [c for c in ("confidence", "pred_label", label_col) if c not in names]
        if missing:
            hint = _label_hint(label_col, names, list(TOP_LABEL_COLS)) if missing[0] == label_col else _closest(missing[0], names)
            raise InputError(
                f"{source}: a top-label file needs the columns confidence, pred_label and {label_col}; "
                f"missing: {', '.join(missing)}.{hint}"
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
        clash = {s: [c for c, (t, _) in zip(found, stripped) if t == s] for s in suffixes if suffixes.count(s) > 1}
        if any(any(c.startswith(CALIBRATED_PREFIX) for c in cols) for cols in clash.values()):
            desc = "; ".join(" and ".join(cols) for cols in list(clash.values())[:3])
            raise InputError(
                f"{source}: --score-cols picks raw and calibrated scores of the same class ({desc}). "
                f"Audit one set: --score-cols '{CALIBRATED_PREFIX}*' for the calibrated scores, or list the raw columns."
            )
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
        _check_unpaired_labels(names, suffixes, found, source)
        return ColumnSpec(Task.MULTILABEL, tuple(found), tuple(suffixes), kind, None, label_cols, notes=notes)
    if label_col not in names:
        hint = _label_hint(label_col, names, list(found))
        raise InputError(
            f"{source}: no label column '{label_col}'.{hint or ' Name the true-label column with --label-col.'}"
            " (Multilabel files instead give one y_<name> column per score column.)"
        )
    if task is None:
        task = Task.BINARY if len(found) <= 2 else Task.MULTICLASS
    if task is Task.BINARY and len(found) > 2:
        raise InputError(f"{source}: --task binary needs one or two score columns, found {len(found)}: {', '.join(found[:5])}.")
    if task is Task.MULTICLASS and len(found) < 2:
        raise InputError(f"{source}: --task multiclass needs at least two score columns, found {len(found)}.")
    return ColumnSpec(task, tuple(found), tuple(suffixes), kind, label_col, notes=notes)


def _check_unpaired_labels(names: list[str], suffixes: list[str], found: list[str], source: str) -> None:
    """A multilabel ``y_<name>`` column with no score column for ``<name>`` anywhere in the file is an error."""
    scored = set(suffixes) | {strip_prefix(n)[0] for n in names if strip_prefix(n)[1] is not None}
    unpaired = [n for n in names if n.startswith(LABEL_PREFIX) and len(n) > len(LABEL_PREFIX)
                and n[len(LABEL_PREFIX):] not in scored and n not in found]
    if unpaired:
        want = [f"p_{n[len(LABEL_PREFIX):]}" for n in unpaired]
        alt = f" or logit_{unpaired[0][len(LABEL_PREFIX):]}" if len(unpaired) == 1 else ", or logit_<name>"
        raise InputError(
            f"{source}: the multilabel label column{'s' if len(unpaired) > 1 else ''} {_shown(unpaired, 5)} "
            f"{'have' if len(unpaired) > 1 else 'has'} no score column ({_shown(want, 5)}{alt}), so "
            f"{'they' if len(unpaired) > 1 else 'it'} would be left out of the audit. Add the score "
            f"column{'s' if len(unpaired) > 1 else ''}, or drop {_shown(unpaired, 5)} from the file."
        )
