"""Config files: finding ``calib.toml`` / ``pyproject.toml``, decoding, parsing TOML, and the line of each key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from calibcli.errors import ConfigError


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


def _display_path(path: Path, cwd: str | None) -> str:
    try:
        return os.path.relpath(path, cwd or os.getcwd())
    except ValueError:
        return str(path)
