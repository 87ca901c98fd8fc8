"""GitHub Actions: workflow-command annotations and the job summary.

Annotation lines (``::error title=...::message``) must be escaped as the runner
requires: in the message ``%`` -> ``%25``, CR -> ``%0D``, LF -> ``%0A``; in
property values also ``:`` -> ``%3A`` and ``,`` -> ``%2C``.
"""

from __future__ import annotations

import os

from calibcli.report import AuditReport


def escape_data(text: str) -> str:
    """Escape an annotation message.

    >>> escape_data("50% off\\nnow")
    '50%25 off%0Anow'
    """
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape an annotation property value (``title``, ``file``).

    >>> escape_property("a:b,c%")
    'a%3Ab%2Cc%25'
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, title: str, file: str | None = None, line: int | None = None) -> str:
    """One workflow-command line, e.g. ``::error title=calib gate::ECE 0.06 > max 0.05``."""
    props = [f"title={escape_property(title)}"]
    if file:
        props.insert(0, f"file={escape_property(file)}")
        if line:
            props.insert(1, f"line={int(line)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}"


def annotations(reports: list[AuditReport]) -> list[str]:
    """``::error`` for each failed rule, ``::warning`` for each violated warn-rule.

    Rules from a config file point at its file and line, so the annotation shows
    next to the setting in a pull request.
    """
    out = []
    for report in reports:
        g = report.gate
        if g is None:
            continue
        f = report.input.files
        where = f[0] if len(f) == 1 else f"{f[0]} (+{len(f) - 1} more)"
        for r in g.rules:
            if r.status == "pass":
                continue
            level = "error" if r.status == "fail" else "warning"
            file = None
            if r.rule.file:
                try:
                    file = os.path.relpath(r.rule.file)
                except ValueError:
                    file = r.rule.file
            out.append(annotation(level, f"{where}: {r.message}", f"calib gate: {r.rule.text}", file, r.rule.line))
    return out


def summary_text(markdown: str) -> str:
    """The text appended to the job summary: the report, a newline, a blank line.

    >>> summary_text("# ok")
    '# ok\\n\\n'
    """
    return (markdown if markdown.endswith("\n") else markdown + "\n") + "\n"
