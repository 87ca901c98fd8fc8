"""The settings table: type and range of every configured value, and the check of one value.

:data:`SETTINGS` gives each key (a command-line flag in kebab-case) its
:class:`Spec`; :func:`check_setting` checks and converts a value read from a
config file or a ``CALIB_*`` variable against it, naming the source when wrong.
"""

from __future__ import annotations

import glob
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from calibcli.errors import ConfigError

ENV_PREFIX = "CALIB_"
ENV_CONFIG = "CALIB_CONFIG"
#: keys that belong in the ``gate`` table
GATE_KEYS = frozenset({
    "max-ece", "max-classwise-ece", "max-class-ece", "max-mce", "max-brier", "max-nll", "min-accuracy", "min-samples",
    "max-ece-increase", "max-classwise-ece-increase", "max-brier-increase", "max-nll-increase", "max-accuracy-decrease",
    "fail-if", "warn-if", "strict", "on", "gate-seed", "gate-replicates", "baseline", "id-col",
})


@dataclass(frozen=True)
class Spec:
    """Type and range of one setting, the same whichever source gives it.

    ``kind`` is ``bool``, ``int``, ``float`` (finite only), ``str``, ``choice``,
    ``path`` (text; a relative path in a config file is relative to that
    file's folder) or ``encoding`` (the name of a text encoding Python knows). ``lo``/``hi`` bound numbers (``None``: unbounded), open
    when ``lo_open``/``hi_open``. ``choices`` are the allowed values of a
    ``choice`` (the union over commands; each command's click ``Choice`` may
    allow fewer). ``multiple``: a list of such values (repeatable flag).
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    multiple: bool = False
    note: str = ""

    def describe(self) -> str:
        """What a valid value is, in words (``'a whole number from 1 to 10000'``)."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("str", "path", "encoding"):
            return {"str": "text", "path": "a path (text)", "encoding": "a text encoding Python knows (utf-8, cp1252, latin-1)"}[self.kind]
        what = "a whole number" if self.kind == "int" else "a finite number"
        lo, hi = (None if b is None else _num(b) for b in (self.lo, self.hi))
        if lo is not None and hi is not None:
            if self.kind == "int":
                return f"{what} from {lo} to {hi}"
            return f"{what} within {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        if lo is not None:
            return f"{what} {'>' if self.lo_open else '>='} {lo}"
        if hi is not None:
            return f"{what} {'<' if self.hi_open else '<='} {hi}"
        return what

    def in_range(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        if self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi):
            return False
        return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


_BOOL = Spec("bool")
_STR = Spec("str")
_PATH = Spec("path")
_SEED = Spec("int", 0)
_FRACTION = Spec("float", 0, 1)
_TARGET = Spec("float", 0, 1, lo_open=True)
_COST = Spec("float")
_CHANGE = Spec("float", -1, 1, note="a negative limit asks for an improvement")

#: Every setting of every command: its type and range, used for config files and
#: ``CALIB_*`` variables; the click types of the flags say the same (a test checks).
SETTINGS: dict[str, Spec] = {
    # input (every command)
    "label-col": _STR,
    "score-cols": _STR,
    "classes": _STR,
    "task": Spec("choice", choices=("binary", "multiclass", "multilabel", "top_label")),
    "score-kind": Spec("choice", choices=("probs", "logits")),
    "renormalize": _BOOL,
    "drop-invalid": _BOOL,
    "bins": Spec("int", 1, 10_000),
    "binning": Spec("choice", choices=("uniform", "quantile")),
    "encoding": Spec("encoding"),
    "batch-rows": Spec("int", 1),
    "memory-limit": _STR,
    "engine": Spec("choice", choices=("local", "dask")),
    "scheduler": _STR,
    "workers": Spec("int", 1),
    "storage-option": Spec("str", multiple=True),
    "threads": Spec("int", 1),
    # outputs and display
    "format": Spec("choice", choices=("table", "json", "csv")),
    "json-out": _PATH,
    "md-out": _PATH,
    "junit-out": _PATH,
    "plots": _PATH,
    "output": _PATH,
    "per-file": _BOOL,
    "models": _STR,  # calib audit --models / --sort-by (calibcli.cli.audit_compare)
    "sort-by": Spec("choice", choices=("ece", "classwise_ece", "nll", "brier", "mce", "accuracy")),
    "keep-going": _BOOL,
    "quiet": _BOOL,
    "max-classes": Spec("int", 0),
    "max-class-panels": Spec("int", 1),
    "ci-summary": _BOOL,
    # calibration (audit, fit, apply)
    "no-calibration": _BOOL,
    "calibrators": _STR,
    "calibration-split": Spec("float", 0, 1, lo_open=True, hi_open=True),
    "fit-on": _PATH,
    "seed": _SEED,
    "per-label": _BOOL,
    "method": Spec("choice", choices=("temperature", "vector", "platt", "isotonic", "histogram")),
    "histogram-bins": Spec("int", 1, 10_000),
    "replace": _BOOL,
    "calibrator": _PATH,
    # thresholds
    "objective": Spec("choice", choices=("cost", "f1", "fbeta", "youden", "precision", "recall", "flag-rate", "review-band"),
                      multiple=True),
    "cost-fp": _COST,
    "cost-fn": _COST,
    "cost-tp": _COST,
    "cost-tn": _COST,
    "beta": Spec("float", 0, lo_open=True),
    "min-precision": _TARGET,
    "min-recall": _TARGET,
    "max-flag-rate": _TARGET,
    "review-precision": Spec("float", 0.5, 1, lo_open=True),
    "class": Spec("str", multiple=True),
    "threshold-class": Spec("str", multiple=True),
    "bootstrap": Spec("int", 0, 100_000),
    "threshold-bootstrap": Spec("int", 0, 100_000),
    "threshold-seed": _SEED,
    # statistics and the verdict (calib audit --statistics / --tolerance)
    "statistics": _BOOL,
    # subgroups (calib audit --by ...; calibcli.cli.audit_groups)
    "by": Spec("str", multiple=True),
    "by-bins": Spec("str", multiple=True),
    "by-time": Spec("str", multiple=True),
    "min-group-rows": Spec("int", 0),
    "max-groups": Spec("int", 1),
    # the HTML report (calib audit / thresholds --html-out)
    "html-out": _PATH,
    "tolerance": _TARGET,
    # gate (the ranges of the limits are those of the metrics, see calibcli.gate.METRIC_RANGES)
    "max-ece": _FRACTION,
    "max-classwise-ece": _FRACTION,
    "max-class-ece": _FRACTION,
    "max-mce": _FRACTION,
    "max-brier": Spec("float", 0),
    "max-nll": Spec("float", 0),
    "min-accuracy": _FRACTION,
    "min-samples": Spec("int", 0),
    "max-ece-increase": _CHANGE,
    "max-classwise-ece-increase": _CHANGE,
    "max-brier-increase": Spec("float", note="a negative limit asks for an improvement"),
    "max-nll-increase": Spec("float", note="a negative limit asks for an improvement"),
    "max-accuracy-decrease": _CHANGE,
    "fail-if": Spec("str", multiple=True),
    "warn-if": Spec("str", multiple=True),
    "strict": _BOOL,
    "on": Spec("choice", choices=("point", "upper")),
    "gate-seed": _SEED,
    "gate-replicates": Spec("int", 10, 100_000),
    "baseline": Spec("path", multiple=True),
    "id-col": _STR,
}
#: words for the TOML types a user may have written
_TOML_TYPE = {bool: "a boolean", int: "an integer", float: "a number", str: "text", list: "a list", dict: "a table"}
_ENV_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_ENV_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
_ENV_INT = re.compile(r"[+-]?[0-9]+")
_ENV_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Setting:
    """One configured value and where it came from.

    ``source`` is ``'file'`` or ``'env'``; ``origin`` says it in words
    (``pyproject.toml:12`` or ``env CALIB_MAX_ECE``).
    """

    key: str
    value: Any
    source: str
    origin: str
    file: str | None = None
    line: int | None = None


def env_name(key: str) -> str:
    """The environment variable of a key.

    >>> env_name("max-ece")
    'CALIB_MAX_ECE'
    """
    return ENV_PREFIX + key.upper().replace("-", "_")


def _shown(value: Any, source: str) -> str:
    """A value as the user wrote it: TOML spelling for a file, quoted text for a variable."""
    if source == "env" or isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return repr(value)


def _invalid(setting: Setting, spec: Spec, value: Any, extra: str = "", wrong_type: bool = False) -> ConfigError:
    shown = _shown(value, setting.source)
    if wrong_type and setting.source == "file":
        shown += f" ({_TOML_TYPE.get(type(value), type(value).__name__)})"
    if setting.source == "env":
        fix = f"Correct it, or unset {setting.origin.removeprefix('env ')}."
    else:
        fix = "Correct it in the file, or pass --no-config to ignore config files."
    what = spec.describe() + (" (or a list of them)" if spec.multiple else "")
    return ConfigError(f"{setting.origin}: '{setting.key}' must be {what}, got {shown}.{extra} {fix}")


def _check_one(setting: Setting, spec: Spec, value: Any) -> Any:
    """One value (one item of a list) checked and converted; ConfigError naming the source when wrong."""
    if setting.source == "env":
        number = _env_value(setting, spec, value)
    else:
        number = _file_value(setting, spec, value)
    if spec.kind not in ("int", "float"):
        return number
    if not spec.in_range(number):
        raise _invalid(setting, spec, value, f" ({spec.note})" if spec.note else "")
    return number


def _env_value(setting: Setting, spec: Spec, value: str) -> Any:
    """A ``CALIB_*`` string read as a flag's value would be."""
    text = value.strip()
    if spec.kind == "bool":
        if text.lower() not in _ENV_TRUE | _ENV_FALSE:
            raise _invalid(setting, spec, value, " Use 1/0, true/false, yes/no or on/off.")
        return text.lower() in _ENV_TRUE
    if spec.kind == "int":
        if not _ENV_INT.fullmatch(text):
            raise _invalid(setting, spec, value)
        return int(text)
    if spec.kind == "float":
        number = float(text) if _ENV_FLOAT.fullmatch(text) else math.nan
        if not math.isfinite(number):
            raise _invalid(setting, spec, value)
        return number
    if spec.kind == "choice" and value not in spec.choices:
        raise _invalid(setting, spec, value)
    if spec.kind == "encoding":
        _check_encoding(setting, spec, value)
    return value


def _check_encoding(setting: Setting, spec: Spec, value: str) -> None:
    import codecs

    try:
        codecs.lookup(value)
    except (LookupError, TypeError, ValueError):
        raise _invalid(setting, spec, value) from None


def _file_value(setting: Setting, spec: Spec, value: Any) -> Any:
    """A TOML value of the right type (bools are not numbers; whole numbers have no fraction)."""
    kind, key = spec.kind, setting.key
    if kind == "bool":
        if isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            hint = f" Write it without quotes: {key} = {value.strip().lower()}."
        raise _invalid(setting, spec, value, hint, wrong_type=True)
    if kind in ("str", "path", "choice", "encoding"):
        if not isinstance(value, str):
            hint = f' Write it in quotes: {key} = "{value}".' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            raise _invalid(setting, spec, value, hint, wrong_type=True)
        if (kind == "choice" and value not in spec.choices) or (kind == "path" and not value.strip()):
            raise _invalid(setting, spec, value)
        if kind == "encoding":
            _check_encoding(setting, spec, value)
        return value
    if isinstance(value, str):
        hint = ""
        if (_ENV_INT if kind == "int" else _ENV_FLOAT).fullmatch(value.strip()):
            hint = f" Write it without quotes: {key} = {value.strip()}."
        raise _invalid(setting, spec, value, hint, wrong_type=True)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(setting, spec, value, wrong_type=True)
    if kind == "int":
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise _invalid(setting, spec, value)
        return int(value)
    if not math.isfinite(value):
        raise _invalid(setting, spec, value)
    return float(value)


def check_setting(setting: Setting) -> Any:
    """A configured value checked against :data:`SETTINGS` and converted to its type.

    The same rules for a config file and a ``CALIB_*`` variable: booleans are
    not numbers, a number with a fraction is not a whole number, NaN and
    infinity are not numbers, ranges are those of the flags. A relative path
    in a config file is made relative to the file's folder (and shown relative
    to the working directory). Keys missing from the table are returned as is
    (click converts them).

    Raises
    ------
    ConfigError
        Naming the source: ``pyproject.toml:12`` or ``env CALIB_MAX_ECE``.

    Examples
    --------
    >>> check_setting(Setting("bins", "12", "env", "env CALIB_BINS"))
    12
    >>> check_setting(Setting("bins", True, "file", "calib.toml:1"))
    Traceback (most recent call last):
    ...
    calibcli.errors.ConfigError: calib.toml:1: 'bins' must be a whole number from 1 to 10000, got true (a boolean). \
Correct it in the file, or pass --no-config to ignore config files.
    """
    spec = SETTINGS.get(setting.key)
    if spec is None:
        return setting.value
    value = setting.value
    if spec.multiple:
        if isinstance(value, str):
            value = [v for v in value.splitlines() if v.strip()] if setting.source == "env" else [value]
        if not isinstance(value, list):
            raise _invalid(setting, spec, value, wrong_type=True)
        out = [_check_one(setting, spec, v) for v in value]
        return [_resolve_path(setting, v) for v in out] if spec.kind == "path" else out
    if isinstance(value, (list, dict)):
        raise _invalid(setting, spec, value, " It takes one value.", wrong_type=True)
    out = _check_one(setting, spec, value)
    return _resolve_path(setting, out) if spec.kind == "path" else out


def _resolve_path(setting: Setting, value: str) -> str:
    """A path from a config file, relative to the file's folder, as seen from the working directory."""
    if setting.source != "file" or not setting.file or value == "-" or "://" in value or os.path.isabs(value):
        return value
    folder = os.path.dirname(os.path.abspath(setting.file))
    if os.path.normcase(folder) == os.path.normcase(os.getcwd()):
        return value
    try:
        base = os.path.relpath(folder)
    except ValueError:  # another drive
        base = folder
    if any(ch in value for ch in "*?["):  # a glob: the folder's own characters are literal
        base = glob.escape(base)
    return os.path.normpath(os.path.join(base, value))
