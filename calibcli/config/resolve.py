"""Configuration resolved: the file and the ``CALIB_*`` variables loaded into a :class:`Config`, and
given to click (default maps, where each value came from, the effective settings of a command)."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibcli.config.files import _display_path, find_config_file, read_config_file
from calibcli.config.settings import ENV_CONFIG, ENV_PREFIX, GATE_KEYS, Setting, check_setting, env_name
from calibcli.errors import ConfigError

#: commands that configuration does not apply to (they describe configuration)
UNCONFIGURED_COMMANDS = frozenset({"config", "schema"})


@dataclass(frozen=True)
class Config:
    """The configuration found: the file (if any) and every configured value."""

    path: str | None = None
    table: str | None = None
    settings: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str) -> Setting | None:
        return self.settings.get(key)


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
