"""A fuzz case: files to create, the ``calib`` commands to run on them, environment and stdin."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class JsonEdit:
    """Change one value of a JSON file written by an earlier step (a calibrator file).

    ``selector`` picks the value among all leaves and containers (modulo their
    number, so any integer is valid); ``action`` is ``set``, ``delete`` or ``raw``
    (replace the whole file by ``value``, which is bytes).
    """

    path: str
    selector: int
    action: str
    value: object = None


@dataclass(frozen=True)
class Case:
    """Everything one fuzz example does.

    ``files`` maps relative paths to bytes (a path ending in ``/`` is a directory);
    ``steps`` are ``calib`` argument lists run in order from ``cwd`` (relative to
    the case folder); every step is checked, not only the last. ``edits`` are
    applied after the first step.
    """

    files: dict[str, bytes]
    steps: tuple[tuple[str, ...], ...]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    cwd: str = "."
    symlinks: dict[str, str] = field(default_factory=dict)
    edits: tuple[JsonEdit, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self, max_bytes: int = 400) -> str:
        """A readable reproducer: environment, files (shortened) and commands."""
        lines = []
        for k, v in sorted(self.env.items()):
            lines.append(f"env {k}={v!r}")
        for path, data in sorted(self.files.items()):
            shown = data[:max_bytes]
            more = f" ... ({len(data)} bytes)" if len(data) > max_bytes else ""
            lines.append(f"file {path}: {shown!r}{more}")
        for link, target in sorted(self.symlinks.items()):
            lines.append(f"symlink {link} -> {target}")
        for e in self.edits:
            lines.append(f"edit {e.path}: {e.action} #{e.selector} = {e.value!r}"[:300])
        if self.stdin is not None:
            lines.append(f"stdin: {self.stdin[:max_bytes]!r}")
        if self.cwd != ".":
            lines.append(f"cd {self.cwd}")
        for step in self.steps:
            lines.append("calib " + " ".join(_quote(a) for a in step))
        if self.notes:
            lines.append("mutations: " + "; ".join(self.notes))
        return "\n".join(lines)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def apply_json_edit(data: bytes, edit: JsonEdit) -> bytes:
    """The file's new bytes after ``edit`` (unchanged when it is not JSON)."""
    if edit.action == "raw":
        return edit.value if isinstance(edit.value, bytes) else str(edit.value).encode()
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    slots: list[tuple[object, object]] = []  # (container, key)

    def walk(node):
        if isinstance(node, dict):
            for k in list(node):
                slots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                slots.append((node, i))
                walk(node[i])

    walk(doc)
    if not slots:
        return data
    container, key = slots[edit.selector % len(slots)]
    if edit.action == "delete":
        del container[key]  # type: ignore[index]
    else:
        container[key] = edit.value  # type: ignore[index]
    return json.dumps(doc, allow_nan=True).encode()


def to_regression(case: Case, **extra: object) -> dict:
    """The JSON form of ``case`` read by ``tests/test_fuzz.py`` (tests/fuzz/regressions/*.json).

    Text files are stored as text, others as ``{"hex": ...}``; ``extra`` adds keys such as
    ``xfail`` (the reason, while the crash is not fixed) or ``about``.
    """
    files: dict[str, object] = {}
    for name, data in sorted(case.files.items()):
        try:
            text = data.decode("utf-8")
            files[name] = text if "\r" not in text else {"hex": data.hex()}
        except UnicodeDecodeError:
            files[name] = {"hex": data.hex()}
    out: dict[str, object] = {**extra, "files": files, "steps": [list(s) for s in case.steps]}
    if case.env:
        out["env"] = dict(case.env)
    if case.stdin is not None:
        out["stdin_hex"] = case.stdin.hex()
    if case.cwd != ".":
        out["cwd"] = case.cwd
    if case.symlinks:
        out["symlinks"] = dict(case.symlinks)
    return out
