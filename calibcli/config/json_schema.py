"""JSON Schema of what ``calib config --format json`` prints."""

from __future__ import annotations

from typing import Any

from calibcli.config.settings import SETTINGS


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
