"""Audit hook: the CI acceptance gate.

- ``options(fn)``: gate and report-file options.
- ``attach(report, loaded, opts) -> AuditReport``: sets ``gate`` (:func:`calibcli.pipeline.gate_stage`).
- ``write_outputs(reports, opts, inputs)``: Markdown, JUnit, CI job summary and annotations.
- ``outcome(reports, opts) -> Outcome``: whether a fail-severity rule failed (``cli.main.exit_status`` maps it).

No numerics here: rules are parsed by :mod:`calibcli.gate` and evaluated in :mod:`calibcli.pipeline`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

import click

from calibcli.cli.paramtypes import FiniteFloat
from calibcli.errors import Outcome

# flag key -> help
_THRESHOLD_FLAGS = {
    "max-ece": "Fail when the ECE is above this (binary: the positive class's; multi-class: top-label).",
    "max-classwise-ece": "Fail when the classwise ECE (mean over classes) is above this.",
    "max-class-ece": "Fail when the worst single class's ECE is above this.",
    "max-mce": "Fail when the MCE is above this.",
    "max-brier": "Fail when the Brier score is above this.",
    "max-nll": "Fail when the NLL is above this.",
    "min-accuracy": "Fail when the accuracy is below this.",
    "max-ece-increase": "Fail when the ECE is above the baseline's by more than this. A negative value asks for an improvement.",
    "max-classwise-ece-increase": "Fail when the classwise ECE is above the baseline's by more than this. A negative value asks for an improvement.",
    "max-brier-increase": "Fail when the Brier score is above the baseline's by more than this. A negative value asks for an improvement.",
    "max-nll-increase": "Fail when the NLL is above the baseline's by more than this. A negative value asks for an improvement.",
    "max-accuracy-decrease": "Fail when the accuracy is below the baseline's by more than this. A negative value asks for an improvement.",
}


@dataclass(frozen=True)
class GateOptions:
    """What the gate options asked for, rules already parsed (with their sources)."""

    rules: tuple
    on: str = "point"
    strict: bool = False
    seed: int = 0
    replicates: int = 200
    baseline: tuple[str, ...] = ()
    id_col: str | None = None
    md_out: str | None = None
    junit_out: str | None = None
    ci_summary: bool = True


def _param(key: str) -> str:
    return key.replace("-", "_")


def options(fn):
    """Adds the gate options; the wrapper turns them into ``opts['gate']`` (GateOptions)."""
    decorators = [
        click.option("--max-ece", type=FiniteFloat(0, 1), default=None, help=_THRESHOLD_FLAGS["max-ece"]),
        click.option("--max-classwise-ece", type=FiniteFloat(0, 1), default=None, help=_THRESHOLD_FLAGS["max-classwise-ece"]),
        click.option("--max-class-ece", type=FiniteFloat(0, 1), default=None, help=_THRESHOLD_FLAGS["max-class-ece"]),
        click.option("--max-mce", type=FiniteFloat(0, 1), default=None, help=_THRESHOLD_FLAGS["max-mce"]),
        click.option("--max-brier", type=FiniteFloat(0), default=None, help=_THRESHOLD_FLAGS["max-brier"]),
        click.option("--max-nll", type=FiniteFloat(0), default=None, help=_THRESHOLD_FLAGS["max-nll"]),
        click.option("--min-accuracy", type=FiniteFloat(0, 1), default=None, help=_THRESHOLD_FLAGS["min-accuracy"]),
        click.option("--min-samples", type=click.IntRange(0), default=None, help="Fail when there are fewer rows than this."),
        click.option("--fail-if", "fail_if", multiple=True, metavar="EXPR",
                     help="Fail when EXPR holds: METRIC OP NUMBER, e.g. 'classwise_ece > 0.03' (repeatable). "
                          "Metrics: ece, ece_top_label, classwise_ece, class_ece, mce, brier, nll, accuracy, samples; with --baseline "
                          "ece_increase, classwise_ece_increase, class_ece_increase, mce_increase, brier_increase, "
                          "nll_increase, accuracy_decrease; with --by worst_group_ece and group_METRIC[COL=VALUE], "
                          "e.g. 'group_ece[region=south] > 0.05'. OP: > >= < <=."),
        click.option("--warn-if", "warn_if", multiple=True, metavar="EXPR", help="Like --fail-if, but only warns (fails with --strict)."),
        click.option("--strict", is_flag=True, help="Warning rules fail too."),
        click.option("--on", "on", type=click.Choice(["point", "upper"]), default="point", show_default=True,
                     help="Compare the point estimate, or the pessimistic end of a seeded bootstrap 95% interval "
                          "(upper end for max rules, lower end for min rules) so a small sample cannot pass by luck."),
        click.option("--gate-seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the --on upper bootstrap."),
        click.option("--gate-replicates", type=click.IntRange(10, 100_000), default=200, show_default=True,
                     help="Bootstrap replicates for --on upper."),
        click.option("--baseline", multiple=True, metavar="OLD_PREDS",
                     help="The previous model's predictions for the same items, for *-increase rules (repeatable, globs)."),
        click.option("--id-col", default=None, help="Match baseline rows by this id column (paired bootstrap); default: by position, labels must agree."),
        click.option("--max-ece-increase", type=FiniteFloat(-1, 1), default=None, help=_THRESHOLD_FLAGS["max-ece-increase"]),
        click.option("--max-classwise-ece-increase", type=FiniteFloat(-1, 1), default=None, help=_THRESHOLD_FLAGS["max-classwise-ece-increase"]),
        click.option("--max-brier-increase", type=FiniteFloat(), default=None, help=_THRESHOLD_FLAGS["max-brier-increase"]),
        click.option("--max-nll-increase", type=FiniteFloat(), default=None, help=_THRESHOLD_FLAGS["max-nll-increase"]),
        click.option("--max-accuracy-decrease", type=FiniteFloat(-1, 1), default=None, help=_THRESHOLD_FLAGS["max-accuracy-decrease"]),
        click.option("--md-out", type=click.Path(dir_okay=False), default=None, help="Write a GitHub-flavoured Markdown report here."),
        click.option("--junit-out", type=click.Path(dir_okay=False), default=None, help="Write JUnit XML here, one testcase per gate rule."),
        click.option("--ci-summary/--no-ci-summary", default=True, show_default=True,
                     help="On GitHub Actions, append the Markdown report to the job summary."),
    ]
    keys = list(_THRESHOLD_FLAGS) + ["min-samples"]
    other = ["fail_if", "warn_if", "strict", "on", "gate_seed", "gate_replicates", "baseline", "id_col", "md_out", "junit_out", "ci_summary"]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from calibcli.config import describe_source
        from calibcli.errors import ConfigError, UsageError
        from calibcli.gate import parse_rule, rule_from_flag

        ctx = click.get_current_context()
        values = {k: kwargs.pop(_param(k)) for k in keys}
        rest = {k: kwargs.pop(k) for k in other}
        rules = []
        for key in keys:
            if values[key] is not None:
                source, file, line = describe_source(ctx, _param(key), key)
                rules.append(rule_from_flag(key, values[key], "fail", source, file, line))
        for key, severity in (("fail-if", "fail"), ("warn-if", "warn")):
            source, file, line = describe_source(ctx, _param(key), key)
            for expr in rest[_param(key)]:
                if source == f"--{key}":
                    rules.append(parse_rule(expr, severity, f"--{key} {expr!r}"))
                    continue
                try:
                    rules.append(parse_rule(expr, severity, source, file, line))
                except UsageError as exc:
                    raise ConfigError(f"{source}: {exc}") from None
        on_groups = [r.text for r in rules if r.on_groups]  # checked before any work; evaluate_gate checks again
        if on_groups and not (kwargs.get("by") or kwargs.get("by_bins") or kwargs.get("by_time")):
            raise UsageError(f"the gate rule(s) {', '.join(repr(t) for t in on_groups)} are on subgroups: "
                             "add --by COLUMN (the groups' column; repeatable for intersections).")
        if rest["id_col"]:
            kwargs["load_options"] = dataclasses.replace(kwargs["load_options"], id_col=rest["id_col"])
        kwargs["gate"] = GateOptions(
            rules=tuple(rules), on=rest["on"], strict=rest["strict"], seed=rest["gate_seed"], replicates=rest["gate_replicates"],
            baseline=tuple(rest["baseline"]), id_col=rest["id_col"], md_out=rest["md_out"], junit_out=rest["junit_out"],
            ci_summary=rest["ci_summary"],
        )
        return fn(*args, **kwargs)

    for dec in reversed(decorators):
        wrapper = dec(wrapper)
    return wrapper


def attach(report, loaded, opts: dict):
    """The report with ``gate`` set: :func:`calibcli.pipeline.gate_stage` with the options of ``opts``.

    ``loaded`` is the audited input: a ``BatchSource``, or validated input in memory.
    ``calib audit`` runs the gate in :func:`calibcli.pipeline.run_audit`; this is for callers holding ``opts``.
    """
    from calibcli.cli.audit import audit_settings
    from calibcli.pipeline import check_settings, gate_stage

    check_outputs(opts, list(loaded.info.files if hasattr(loaded, "batches") else loaded.files))
    settings = audit_settings({"n_bins": 15, "strategy": "uniform", **opts})
    check_settings(settings)
    return gate_stage(report, loaded, settings)


def check_outputs(opts: dict, inputs: list[str]) -> None:
    """Refuse report paths that are input files (called before any work)."""
    from calibcli.outputs import check_not_input

    g: GateOptions | None = opts.get("gate")
    if g is None:
        return
    for path, flag in ((g.md_out, "--md-out"), (g.junit_out, "--junit-out")):
        if path:
            check_not_input(path, list(inputs) + list(g.baseline), flag)


def write_outputs(reports, opts: dict, inputs: list[str], out) -> list[str]:
    """Stage the Markdown and JUnit files in ``out`` (an ``OutputSet``); on GitHub Actions, the job summary.

    The paths were checked by ``out.plan`` before any work (``calib audit``).
    The job summary is appended when ``out`` commits, best effort: a
    ``GITHUB_STEP_SUMMARY`` that cannot be written is a warning, never an error,
    so the gate's verdict does not depend on it. Returns the annotation lines
    (``::error ...``) for the caller to print once the outputs are committed.
    """
    g: GateOptions | None = opts.get("gate")
    if g is None:
        return []
    markdown = None
    if g.md_out:
        from calibcli.render.markdown import render_markdown

        markdown = render_markdown(reports, opts.get("comparison"), opts.get("report_names"))
        out.add("--md-out", g.md_out, markdown)
    if g.junit_out:
        from calibcli.render.junit import render_junit

        out.add("--junit-out", g.junit_out, render_junit(reports))
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return []
    from calibcli.render.github import annotations, summary_text

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if g.ci_summary and summary:
        if markdown is None:
            from calibcli.render.markdown import render_markdown

            markdown = render_markdown(reports, opts.get("comparison"), opts.get("report_names"))
        out.append("GITHUB_STEP_SUMMARY", summary, summary_text(markdown))
    return annotations(reports)


def rule_lines(reports, names=None) -> list[str]:
    """One stderr line per failed or violated rule (``calib: gate failed: ...``), in rule order.

    With several reports (``--per-file``, ``--models``) each line names its file (or ``names[i]``).
    """
    lines = []
    for i, r in enumerate(reports):
        if r.gate is None:
            continue
        f = r.input.files
        where = (names[i] if names else f[0] if len(f) == 1 else f"{f[0]} (+{len(f) - 1} more)") + ": " if len(reports) > 1 else ""
        for x in r.gate.rules:
            if x.status != "pass":
                lines.append(f"calib: gate {'failed' if x.status == 'fail' else 'warning'}: {where}{x.message}")
    return lines


def outcome(reports, opts: dict) -> Outcome:
    """Whether any report's gate failed (``calibcli.cli.main.exit_status`` turns it into 1 or 0).

    Called last by ``calib audit``; it first prints each failed or violated
    rule to stderr, one line each, even with ``-q`` or ``--format json``: a
    failing gate is never silent.
    """
    for line in rule_lines(reports, opts.get("report_names")):
        click.echo(line, err=True)
    return Outcome(gate_failed=any(r.gate is not None and not r.gate.passed for r in reports))
