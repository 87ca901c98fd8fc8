"""JUnit XML for CI systems (GitLab, Jenkins): one testcase per gate rule.

A failed fail-rule is a ``<failure>``; a violated warn-rule is ``<skipped>`` with
its message (so the pipeline stays green but the warning is visible); a report
without rules has one passing ``audit`` testcase. Reads the report only.
"""

from __future__ import annotations

from calibcli.report import AuditReport


def _suite_name(report: AuditReport) -> str:
    f = report.input.files
    return "calib gate: " + (f[0] if len(f) == 1 else f"{f[0]} (+{len(f) - 1} more)")


def _detail(r, label: str) -> str:
    """The failure text of a rule result: only what is defined (never 'None')."""
    rule = r.rule
    parts = [f"{label}: " + ("not defined for this input" if r.value is None else f"value {float(r.value)!r}")]
    if r.interval is not None:
        if r.point is not None:
            parts.append(f"point {float(r.point)!r}")
        lo, hi = r.interval
        parts.append(f"bootstrap 95% interval [{float(lo)!r}, {float(hi)!r}]")
    parts += [f"rule '{rule.text}'", f"severity {rule.severity}", f"source {rule.source}"]
    return ", ".join(parts)


def render_junit(reports: list[AuditReport]) -> str:
    """JUnit XML text: ``<testsuites>`` with one ``<testsuite>`` per report.

    Examples
    --------
    The root is ``<testsuites name="calib" tests=... failures=...>``; each rule is
    ``<testcase classname="calib.gate" name="ece > 0.05 (--max-ece)">``.
    """
    import xml.etree.ElementTree as ET


    root = ET.Element("testsuites", name="calib")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for report in reports:
        suite = ET.SubElement(root, "testsuite", name=_suite_name(report))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="n_samples", value=str(report.input.n_samples))
        ET.SubElement(props, "property", name="task", value=report.input.task)
        for key in ("accuracy", "ece", "classwise_ece", "mce", "brier", "nll"):
            v = getattr(report.metrics, key)
            if v is not None:
                ET.SubElement(props, "property", name=key, value=repr(float(v)))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        g = report.gate
        if g is None:
            ET.SubElement(suite, "testcase", classname="calib.audit", name="audit", time="0")
            counts["tests"] = 1
        else:
            ET.SubElement(props, "property", name="on", value=g.on)
            for r in g.rules:
                rule = r.rule
                case = ET.SubElement(suite, "testcase", classname="calib.gate", name=f"{rule.text} ({rule.source})", time="0")
                counts["tests"] += 1
                detail = _detail(r, r.label)
                if r.status == "fail":
                    el = ET.SubElement(case, "failure", message=r.message, type="calib.gate")
                    el.text = detail
                    counts["failures"] += 1
                elif r.status == "warn":
                    ET.SubElement(case, "skipped", message=f"warning: {r.message}")
                    counts["skipped"] += 1
                else:
                    out = ET.SubElement(case, "system-out")
                    out.text = r.message
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("errors", "0")
        suite.set("time", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
