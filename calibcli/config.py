"""Configuration: ``[tool.calib]`` in ``pyproject.toml``, or ``calib.toml``, plus ``CALIB_*`` variables.

Keys mirror the command-line flags in kebab-case (``--max-ece`` is ``max-ece``,
``--bins`` is ``bins``); the gate rules live in a ``gate`` table::

    [tool.calib]
    bins = 15
    md-out = "calib-report.md"

    [tool.calib.gate]
    max-ece = 0.05
    fail-if = ["classwise_ece > 0.03"]
    warn-if = ["mce > 0.2"]

In ``calib.toml`` the same keys sit at the top level (``[gate]`` for the rules).
The file is found by walking up from the working directory (the first
``calib.toml``, or ``pyproject.toml`` holding a ``[tool.calib]`` table), or
given with ``calib --config PATH`` (or ``CALIB_CONFIG``).

Precedence: flags > ``CALIB_<KEY>`` environment variables (``CALIB_MAX_ECE``)
> the file > built-in defaults. Every value remembers where it came from.
"""

from __future__ import annotations

import difflib
import glob
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
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
#: commands that configuration does not apply to (they describe configuration)
UNCONFIGURED_COMMANDS = frozenset({"config", "schema"})


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
    # outputs and display
    "format": Spec("choice", choices=("table", "json", "csv")),
    "json-out": _PATH,
    "md-out": _PATH,
    "junit-out": _PATH,
    "plots": _PATH,
    "output": _PATH,
    "per-file": _BOOL,
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


@dataclass(frozen=True)
class Config:
    """The configuration found: the file (if any) and every configured value."""

    path: str | None = None
    table: str | None = None
    settings: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str) -> Setting | None:
        return self.settings.get(key)


def env_name(key: str) -> str:
    """The environment variable of a key.

    >>> env_name("max-ece")
    'CALIB_MAX_ECE'
    """
    return ENV_PREFIX + key.upper().replace("-", "_")


def find_config_file(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest ``calib.toml``, or ``pyproject.toml`` with a ``[tool.calib]`` table,
    in ``start`` (default: the working directory) or one of its parents.

    A ``pyproject.toml`` that is not UTF-8 (TOML files must be) or not valid
    TOML is an error when it mentions ``calib`` (it may hold the table), and
    is skipped otherwise (it cannot: the table's name would be in it).
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        cand = folder / "calib.toml"
        if cand.is_file():
            return cand
        cand = folder / "pyproject.toml"
        if cand.is_file():
            try:
                data = cand.read_bytes()
            except OSError:
                continue
            if b"calib" not in data:
                continue
            if "calib" in _tool_tables(_decode(data, cand, searched=True), cand):
                return cand
    return None


def _decode(data: bytes, path: Path, searched: bool = False) -> str:
    """TOML text from bytes (UTF-8, as TOML requires); ConfigError naming the file, line and byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        why = " calib looked in it for a [tool.calib] table (searching from the working directory up)." if searched else ""
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); TOML files must be UTF-8.{why} "
            "Save the file as UTF-8, or pass --no-config to ignore config files.") from None


def _parse_toml(text: str, path: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the file, or pass --no-config to ignore config files.") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: values nested too deeply. Fix the file, or pass --no-config to "
                          "ignore config files.") from None


def _tool_tables(text: str, path: Path) -> dict:
    tool = _parse_toml(text, path).get("tool", {})
    return tool if isinstance(tool, dict) else {}


def _split_key(raw: str) -> tuple[str, ...]:
    parts = []
    for p in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', raw):
        parts.append(p.strip().strip("\"'"))
    return tuple(p for p in parts if p)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of each key path (``('tool', 'calib', 'gate', 'max-ece')``) in TOML text.

    A light scan: table headers and ``key =`` lines (the first line of a
    multi-line value). Good enough to point a user at the right line.

    >>> key_lines("[tool.calib]\\nbins = 10\\n[tool.calib.gate]\\nmax-ece = 0.05\\n")[("tool", "calib", "gate", "max-ece")]
    4
    """
    out: dict[tuple[str, ...], int] = {}
    current: tuple[str, ...] = ()
    header = re.compile(r"^\s*\[\[?([^\]]*)\]\]?\s*(?:#.*)?$")  # no nested quantifiers: linear on any line
    assign = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*=")
    for i, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m and m.group(1).strip():
            current = _split_key(m.group(1).strip())
            out.setdefault(current, i)
            continue
        m = assign.match(line)
        if m:
            out.setdefault(current + _split_key(m.group(1)), i)
    return out


def _line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def read_config_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any], dict[str, int], str]:
    """Top-level table, gate table, line of each key and the table's name, of a config file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist. Check --config (or CALIB_CONFIG).") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory. Point --config (or CALIB_CONFIG) at a TOML file.") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}.") from None
    text = _decode(raw, p)
    data = _parse_toml(text, p)
    lines = key_lines(text)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    if p.name == "pyproject.toml" or "calib" in tool:
        table = tool.get("calib")
        prefix: tuple[str, ...] = ("tool", "calib")
        name = "[tool.calib]"
        if table is None:
            raise ConfigError(f"{path} has no [tool.calib] table. Add one, or point --config at a calib.toml.")
    else:
        table, prefix, name = data, (), "top level"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name} must be a table of settings.")
    gate = table.get("gate", {})
    if not isinstance(gate, dict):
        line = _line_of(lines, prefix + ("gate",))
        raise ConfigError(f"{path}{f':{line}' if line else ''}: 'gate' must be a table of rules, like [tool.calib.gate] or [gate].")
    top = {k: v for k, v in table.items() if k != "gate"}
    line_map = {k: _line_of(lines, prefix + (k,)) for k in top}
    line_map.update({f"gate.{k}": _line_of(lines, prefix + ("gate", k)) for k in gate})
    return top, dict(gate), line_map, name


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def load_config(
    valid_keys: set[str] | frozenset[str],
    explicit_path: str | None = None,
    use_files: bool = True,
    cwd: str | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Find and read the config file and the ``CALIB_*`` variables.

    Parameters
    ----------
    valid_keys : every key a command accepts (kebab-case).
    explicit_path : ``--config PATH``; skips discovery.
    use_files : False ignores config files (``--no-config``).
    cwd, environ : where to start looking, and the environment (default: the process's).

    Raises
    ------
    ConfigError
        Unreadable file, unknown key (with the closest valid key), a rule key
        outside the gate table or a plain key inside it, a value of the wrong
        type or out of range (:func:`check_setting`).
    """
    environ = os.environ if environ is None else environ
    settings: dict[str, Setting] = {}
    path = table_name = None
    found = Path(explicit_path) if explicit_path else (find_config_file(cwd) if use_files else None)
    if found is not None:
        top, gate, lines, table_name = read_config_file(found)
        path = str(found)
        shown = _display_path(found, cwd)
        valid_top = sorted(valid_keys - GATE_KEYS)
        valid_gate = sorted(valid_keys & GATE_KEYS)
        gate_table = "[tool.calib.gate]" if table_name == "[tool.calib]" else "[gate]"
        for key, value in top.items():
            where = f"{shown}:{lines[key]}" if lines.get(key) else shown
            if key in GATE_KEYS and key in valid_keys:
                raise ConfigError(f"{where}: '{key}' is a gate rule; put it in the {gate_table} table.")
            if key not in valid_keys and isinstance(value, dict):
                sub = f"[tool.calib.{key}]" if table_name == "[tool.calib]" else f"[{key}]"
                hint = f"Did you mean {gate_table}? " if _suggest(key, ["gate"]) else ""
                raise ConfigError(f"{where}: unknown table {sub}. {hint}The only table calib reads there is {gate_table} "
                                  f"(the gate rules); other settings are keys directly in {table_name}.")
            if key not in valid_keys:
                raise ConfigError(f"{where}: unknown key '{key}' in {table_name}.{_suggest(key, valid_top + valid_gate)} "
                                  f"Keys mirror the command-line flags in kebab-case (see calib config).")
            settings[key] = Setting(key, value, "file", where, path, lines.get(key))
        for key, value in gate.items():
            line = lines.get(f"gate.{key}")
            where = f"{shown}:{line}" if line else shown
            if key not in valid_keys and isinstance(value, dict):
                raise ConfigError(f"{where}: unknown table {gate_table[:-1]}.{key}]; the gate table holds rules as keys "
                                  f"({', '.join(valid_gate)}), not tables.")
            if key not in valid_keys:
                raise ConfigError(f"{where}: unknown key '{key}' in {gate_table}.{_suggest(key, valid_gate + valid_top)} "
                                  f"Rule keys: {', '.join(valid_gate)}.")
            if key not in GATE_KEYS:
                raise ConfigError(f"{where}: '{key}' is not a gate rule; put it above the {gate_table} table, directly in {table_name}.")
            settings[key] = Setting(key, value, "file", where, path, line)
    known = {env_name(key): key for key in valid_keys}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG:
            continue
        if name not in known:
            raise ConfigError(f"environment variable {name} is not a calib setting.{_suggest(name, sorted(known))} "
                              f"Variables are CALIB_ plus a flag in upper case with underscores (CALIB_MAX_ECE); "
                              f"unset it (unset {name}) or correct its name.")
        if not environ[name]:  # set but empty: unset, as click reads variables (CALIB_MAX_ECE= clears it)
            continue
        settings[known[name]] = Setting(known[name], environ[name], "env", f"env {name}")
    for setting in settings.values():  # type and range, whichever command runs (a wrong value never waits for its command)
        check_setting(setting)
    return Config(path, table_name, settings)


def _display_path(path: Path, cwd: str | None) -> str:
    try:
        return os.path.relpath(path, cwd or os.getcwd())
    except ValueError:
        return str(path)


# ------------------------------------------------------------ click integration


def option_key(param) -> str | None:
    """The config key of a click option: its longest flag without dashes (``None`` for arguments)."""
    import click

    if not isinstance(param, click.Option) or param.name == "help":
        return None
    longs = [o for o in param.opts if o.startswith("--")]
    if not longs:
        return None
    return max(longs, key=len)[2:]


def command_keys(command) -> dict[str, Any]:
    """Config key -> click parameter, for one command."""
    out = {}
    for p in command.params:
        key = option_key(p)
        if key is not None:
            out[key] = p
    return out


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


def cast_setting(setting: Setting, param, command) -> Any:
    """The setting's value as the command's parameter would read it; ConfigError when it cannot."""
    import click

    value = check_setting(setting)
    if param.multiple:
        if isinstance(value, str):
            value = [v for v in value.splitlines() if v.strip()] if setting.source == "env" else [value]
        if not isinstance(value, list):
            raise ConfigError(f"{setting.origin}: '{setting.key}' must be a list of values (or one text), got {value!r}.")
    elif isinstance(value, (list, dict)):
        raise ConfigError(f"{setting.origin}: '{setting.key}' takes one value, got {value!r}.")
    try:
        ctx = click.Context(command)
        return param.type_cast_value(ctx, value)
    except click.BadParameter as exc:
        raise ConfigError(f"{setting.origin}: invalid value for '{setting.key}' of calib {command.name}: {exc.message}") from None


def build_default_map(config: Config, commands: dict[str, Any], only: str | None = None) -> dict[str, dict[str, Any]]:
    """click ``default_map``: for each command (or just ``only``), the configured values of the keys it has.

    Values are checked (and converted) here so that a bad value names its file and line.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        if name in UNCONFIGURED_COMMANDS or (only is not None and name != only):
            continue
        keys = command_keys(command)
        values = {}
        for key, setting in config.settings.items():
            if key in keys:
                values[keys[key].name] = cast_setting(setting, keys[key], command)
        if values:
            out[name] = values
    return out


def all_commands(group, ctx) -> dict[str, Any]:
    """Every subcommand of the group (imports them)."""
    return {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}


def valid_keys_of(commands: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for name, command in commands.items():
        if name not in UNCONFIGURED_COMMANDS:
            keys |= set(command_keys(command))
    return keys


def apply_config(ctx, explicit_path: str | None, use_files: bool) -> Config:
    """Load the configuration into ``ctx.default_map`` and ``ctx.meta['calib.config']``.

    Skips all work when there is no file to read and no ``CALIB_*`` variable set.
    """
    if not use_files:
        explicit_path = None
    path = explicit_path or (find_config_file() if use_files else None)
    if path is None and not any(k.startswith(ENV_PREFIX) and k != ENV_CONFIG for k in os.environ):
        config = Config()
    else:
        commands = all_commands(ctx.command, ctx)
        config = load_config(valid_keys_of(commands), str(path) if path else None, use_files)
        ctx.default_map = build_default_map(config, commands, ctx.invoked_subcommand)
    ctx.meta["calib.config"] = config
    return config


def describe_source(ctx, param_name: str, key: str) -> tuple[str, str | None, int | None]:
    """Where a parameter's value came from: (words, file, line)."""
    import click

    src = ctx.get_parameter_source(param_name)
    if src is click.core.ParameterSource.COMMANDLINE:
        return f"--{key}", None, None
    if src is click.core.ParameterSource.DEFAULT_MAP:
        config = ctx.meta.get("calib.config")
        setting = config.get(key) if config else None
        if setting is not None:
            words = setting.origin if setting.source == "env" else f"{setting.origin} {key}"
            return words, setting.file, setting.line
        return "config", None, None
    if src is click.core.ParameterSource.ENVIRONMENT:
        return "environment", None, None
    return "default", None, None


def effective_settings(config: Config | None, command) -> list[dict[str, Any]]:
    """Every key of ``command`` with its effective value and where it came from.

    Each row: ``key``, ``table`` (``'gate'`` or ``''``), ``value``, ``source``
    (``file``, ``env`` or ``default``), ``origin`` (words), ``file``, ``line``.
    """
    import click

    rows = []
    for key, param in sorted(command_keys(command).items(), key=lambda kv: (kv[0] in GATE_KEYS, kv[0])):
        setting = config.get(key) if config is not None else None
        if setting is not None:
            value = cast_setting(setting, param, command)
            row = {"source": setting.source, "origin": setting.origin, "file": setting.file, "line": setting.line}
        else:
            value = param.get_default(click.Context(command), call=True)
            if value is not None and type(value).__name__ == "Sentinel":  # click >= 8.3 "unset"
                value = False if getattr(param, "is_flag", False) else None
            row = {"source": "default", "origin": "default", "file": None, "line": None}
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, click.types.ParamType):  # pragma: no cover - defensive
            value = str(value)
        rows.append({"key": key, "table": "gate" if key in GATE_KEYS else "", "value": value, **row})
    return rows


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of what ``calib config --format json`` prints.

    Examples
    --------
    >>> sorted(config_json_schema()["properties"])
    ['command', 'config_file', 'settings', 'table']
    """
    nullable_str = {"type": ["string", "null"]}
    value = {"oneOf": [{"type": "null"}, {"type": "boolean"}, {"type": "number"}, {"type": "string"},
                       {"type": "array", "items": {"type": "string"}}]}
    setting = {
        "type": "object",
        "additionalProperties": False,
        "required": ["key", "table", "value", "source", "origin", "file", "line"],
        "properties": {
            "key": {"enum": sorted(SETTINGS)},
            "table": {"enum": ["", "gate"], "description": "'gate' for keys of the [tool.calib.gate] (or [gate]) table"},
            "value": {**value, "description": "the effective value; a path from a config file is resolved against "
                                              "the file's folder and shown relative to the working directory"},
            "source": {"enum": ["file", "env", "default"]},
            "origin": {"type": "string", "description": "where the value came from in words: 'pyproject.toml:12', "
                                                        "'env CALIB_MAX_ECE' or 'default'"},
            "file": nullable_str,
            "line": {"type": ["integer", "null"], "minimum": 1},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://calib.invalid/schema/config.json",
        "title": "calib config --format json",
        "type": "object",
        "additionalProperties": False,
        "required": ["config_file", "table", "command", "settings"],
        "properties": {
            "config_file": {**nullable_str, "description": "the config file read (null: none)"},
            "table": {"enum": ["[tool.calib]", "top level", None]},
            "command": {"type": "string"},
            "settings": {"type": "array", "items": setting},
        },
    }
