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
    in ``start`` (default: the working directory) or one of its parents."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        cand = folder / "calib.toml"
        if cand.is_file():
            return cand
        cand = folder / "pyproject.toml"
        if cand.is_file():
            try:
                text = cand.read_text(encoding="utf-8")
            except OSError:
                continue
            if "calib" in text and "calib" in _tool_tables(text, cand):
                return cand
    return None


def _tool_tables(text: str, path: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads(text).get("tool", {}) or {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the file, or pass --no-config to ignore it.") from None


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
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assign = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*=")
    for i, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            current = _split_key(m.group(1))
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
    import tomllib

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist. Check --config (or CALIB_CONFIG).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the file, or pass --no-config to ignore config files.") from None
    lines = key_lines(text)
    if p.name == "pyproject.toml" or ("tool" in data and isinstance(data.get("tool"), dict) and "calib" in data["tool"]):
        table = data.get("tool", {}).get("calib")
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
        raise ConfigError(f"{path}:{_line_of(lines, prefix + ('gate',))}: 'gate' must be a table of rules, like [tool.calib.gate] or [gate].")
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
        outside the gate table or a plain key inside it.
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
            if key not in valid_keys:
                raise ConfigError(f"{where}: unknown key '{key}' in {table_name}.{_suggest(key, valid_top + valid_gate)} "
                                  f"Keys mirror the command-line flags in kebab-case (see calib config).")
            settings[key] = Setting(key, value, "file", where, path, lines.get(key))
        for key, value in gate.items():
            line = lines.get(f"gate.{key}")
            where = f"{shown}:{line}" if line else shown
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
        settings[known[name]] = Setting(known[name], environ[name], "env", f"env {name}")
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


def cast_setting(setting: Setting, param, command) -> Any:
    """The setting's value as the command's parameter would read it; ConfigError when it cannot."""
    import click

    value = setting.value
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
        raise ConfigError(f"{setting.origin}: invalid value for '{setting.key}': {exc.message}") from None


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
