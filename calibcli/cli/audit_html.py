"""Audit and thresholds hook: the self-contained HTML report (``--html-out FILE``).

- ``options(fn)``: ``--html-out``.
- ``plan_outputs(opts, out)``: check the path in the ``OutputSet`` before any work.
- ``write_outputs(reports, opts, inputs, out)``: stage the HTML of ``calib audit``
  (all reports of a ``--per-file`` run in one document).
- ``write_thresholds(results, failures, spec, opts, inputs, out)``: the same for ``calib thresholds``.

No numerics here: the document is :mod:`calibcli.render.html`.
"""

from __future__ import annotations

import functools
import shlex

import click

OPTION = "--html-out"


def options(fn):
    """Add ``--html-out FILE`` to a command."""

    @click.option("--html-out", "html_out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                  help="Also write a self-contained HTML report here (figures inline, no network; the same bytes for "
                       "the same input and options).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def plan_outputs(opts: dict, out) -> str | None:
    """Check the ``--html-out`` path in ``out`` (an ``OutputSet``) before any work; the path, or None."""
    path = opts.get("html_out")
    if path:
        out.plan(OPTION, path)
    return path


def command_line() -> str:
    """The command as typed, rebuilt from click's parsed options (those given on the command line only).

    Rebuilt rather than read from ``sys.argv`` so that it is the same however calib
    was started (console script, ``python -m calibcli``, a test runner).
    """
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return ""
    words = (ctx.command_path or "calib").split()
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            continue
        name = max(param.opts, key=len)
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            if param.secondary_opts and not value:
                words.append(max(param.secondary_opts, key=len))
            elif value:
                words.append(name)
            continue
        values = value if getattr(param, "multiple", False) else [value]
        for v in values:
            if isinstance(v, (tuple, list)) and param.name == "storage_option":
                v = f"{v[0]}=***"  # values of storage options are never printed
            elif isinstance(v, (tuple, list)):
                v = ",".join(str(x) for x in v)
            words += [name, str(v)]
    from calibcli.sources.remote import redact

    return shlex.join(redact(w) for w in words)  # URLs with user info or signed queries never shown


def _provenance(inputs):
    from calibcli.render.html import Provenance, file_records

    return Provenance(file_records(inputs), command_line())


def write_outputs(reports, opts: dict, inputs, out) -> str | None:
    """Stage the HTML report of ``reports`` in ``out``; the note to print once committed (or None)."""
    path = opts.get("html_out")
    if not path:
        return None
    from calibcli.render.html import render_html

    out.add(OPTION, path, render_html(reports, _provenance(list(inputs)), opts.get("max_class_panels", 25),
                                      comparison=opts.get("comparison"), names=opts.get("report_names")))
    return f"wrote {path}"


def write_thresholds(results, failures, spec, opts: dict, inputs, out) -> str | None:
    """Stage the HTML report of ``calib thresholds`` in ``out``; the note to print once committed (or None)."""
    path = opts.get("html_out")
    if not path:
        return None
    from calibcli.render.html import render_thresholds_html

    out.add(OPTION, path, render_thresholds_html(results, failures, spec, _provenance(list(inputs))))
    return f"wrote {path}"
