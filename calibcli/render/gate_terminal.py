"""Terminal section of the gate: verdict line and one row per rule. Reads the report only."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {"pass": ("PASS", "green"), "fail": ("FAIL", "bold red"), "warn": ("WARN", "yellow")}


def render_gate(gate) -> Group:
    """The gate verdict and its rules (``gate`` is a :class:`calibcli.gate.GateResult`)."""
    from calibcli.gate import format_limit, format_value

    table = Table(show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("status")
    table.add_column("fails if", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column("source", overflow="fold")
    for r in gate.rules:
        word, style = STATUS_STYLE[r.status]
        rule = r.rule
        value = "undefined" if r.value is None else format_value(r.value, rule.limit)
        if r.interval is not None and r.point is not None:
            value += f" (point {format_value(r.point, rule.limit)})"
        table.add_row(Text(word, style=style), f"{r.label} {rule.op} {format_limit(rule.limit)}"
                      + (" [warn]" if rule.severity == "warn" else ""), value, rule.source)
    n = len(gate.rules)
    if gate.passed:
        head = Text(f"gate passed: {n - len(gate.warned)} of {n} rules pass", style="bold green")
        if gate.warned:
            head.append(f", {len(gate.warned)} warning{'s' if len(gate.warned) != 1 else ''}", style="yellow")
    else:
        head = Text(f"gate FAILED: {len(gate.failed)} of {n} rule{'s' if n != 1 else ''} failed", style="bold red")
    how = "point estimates" if gate.on == "point" else f"pessimistic end of bootstrap 95% intervals ({gate.replicates} replicates, seed {gate.seed})"
    parts = [head, Text(f"compared: {how}" + ("; --strict: warnings fail" if gate.strict else ""), style="dim"), table]
    # the reasons of failed and violated rules go to stderr, one line each (calibcli.cli.audit_gate.rule_lines)
    if gate.baseline is not None:
        b = gate.baseline
        parts.append(Text(f"baseline: {', '.join(b.files)} ({b.n_matched:,} rows matched by {b.matched_by})", style="dim"))
    return Group(*parts)
