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

The package: :mod:`~calibcli.config.settings` (the table of settings, the check
of one value), :mod:`~calibcli.config.files` (finding and reading config files),
:mod:`~calibcli.config.resolve` (loading the file and the variables, handing
them to click) and :mod:`~calibcli.config.json_schema` (the schema of
``calib config --format json``). Every name is importable from here.
"""

from calibcli.config.files import find_config_file, key_lines, read_config_file
from calibcli.config.json_schema import config_json_schema
from calibcli.config.resolve import (
    UNCONFIGURED_COMMANDS,
    Config,
    all_commands,
    apply_config,
    build_default_map,
    cast_setting,
    command_keys,
    describe_source,
    effective_settings,
    load_config,
    option_key,
    valid_keys_of,
)
from calibcli.config.settings import ENV_CONFIG, ENV_PREFIX, GATE_KEYS, SETTINGS, Setting, Spec, check_setting, env_name

__all__ = [
    "ENV_CONFIG", "ENV_PREFIX", "GATE_KEYS", "SETTINGS", "UNCONFIGURED_COMMANDS", "Config", "Setting", "Spec",
    "all_commands", "apply_config", "build_default_map", "cast_setting", "check_setting", "command_keys",
    "config_json_schema", "describe_source", "effective_settings", "env_name", "find_config_file", "key_lines",
    "load_config", "option_key", "read_config_file", "valid_keys_of",
]
