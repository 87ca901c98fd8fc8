"""Gate rules on subgroups (issue 13): ``worst_group_ece`` and ``group_<metric>[COL=VALUE]`` with ``--by``."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.errors import UsageError
from calibcli.gate import GROUP_METRICS, METRICS, RULE_METRICS, evaluate_gate, format_selector, parse_rule, parse_selector
from calibcli.schema import RULE_METRICS as SCHEMA_RULE_METRICS, report_schema

from cli_helpers import run


def _frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Binary scores, calibrated except region 'south' (overconfident)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    region = rng.choice(["north", "south", "east", "west"], n)
    scores = np.where(region == "south", np.clip(0.5 + 1.9 * (p - 0.5), 0.01, 0.99), p)
    return pd.DataFrame({"label": y, "p_1": scores, "region": region, "device": rng.choice(["ios", "android"], n),
                         "age": rng.integers(18, 80, n)})


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    path = tmp_path_factory.mktemp("gg") / "regions.csv"
    _frame().to_csv(path, index=False)
    return path


def _audit(path, *args):
    return run(["audit", path, "--no-calibration", "-q", *args])


def _json(path, *args) -> tuple[int, dict, str]:
    r = run(["audit", path, "--no-calibration", "--format", "json", *args])
    assert r.exit_code in (0, 1), r.stderr
    return r.exit_code, json.loads(r.stdout), r.stderr


# ------------------------------------------------------------------ grammar

@pytest.mark.parametrize("text, metric, group", [
    ("worst_group_ece > 0.05", "worst_group_ece", None),
    ("group_ece[region=south] > 0.05", "group_ece", (("region", "south"),)),
    ("group_ece[ region = south , tier=gold ]>=0.1", "group_ece", (("region", "south"), ("tier", "gold"))),
    ("group_accuracy[south] < 0.8", "group_accuracy", (("", "south"),)),  # the only --by column
    ("group_brier[age='(30, 45]'] > 0.3", "group_brier", (("age", "(30, 45]"),)),  # --by-bins labels hold , and ]
    ('group_mce[day="week of 2024-01-01"] > 0.3', "group_mce", (("day", "week of 2024-01-01"),)),
    ("group_ece[region=(missing)] > 0.1", "group_ece", (("region", "(missing)"),)),
])
def test_parse_group_rules(text, metric, group):
    r = parse_rule(text)
    assert (r.metric, r.group) == (metric, group)
    assert r.on_groups
    again = parse_rule(r.text)  # the canonical text reads back to the same rule
    assert (again.metric, again.group, again.op, again.limit) == (r.metric, r.group, r.op, r.limit)


@pytest.mark.parametrize("text, fragment", [
    ("group_ece > 0.05", "needs the group in brackets"),
    ("worst_group_ece[region=south] > 0.05", "takes no [group]"),
    ("ece[region=south] > 0.05", "only the group_* metrics"),
    ("group_ece[region=south > 0.05", "never closed"),
    ("group_ece[region='south] > 0.05", "quote ' in the group selector is never closed"),
    ("group_ece[] > 0.05", "needs COLUMN=VALUE"),
    ("group_ece[=south] > 0.05", "column name is missing"),
    ("group_ece[a=b=c] > 0.05", "one '='"),
    ("group_ece[a=1,a=2] > 0.05", "named twice"),
    ("group_ece[south, north] > 0.05", "every one needs its column"),
    ("group_ece[a=[b]] > 0.05", "unexpected '['"),
    ("group_ece[__import__('os')] > 0.05", "quote"),
    ("group_ece[region=south] > 5", "between 0 and 1"),
    ("worst_group_ece > 0.05 x", "unexpected text"),
])
def test_bad_group_rules_are_usage_errors(text, fragment):
    with pytest.raises(UsageError) as e:
        parse_rule(text)
    assert fragment in str(e.value)
    assert "group_ece[region=south]" in str(e.value)  # the message shows the form


_PART = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="'\"\x00"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_PART, _PART), min_size=1, max_size=3, unique_by=lambda t: t[0].strip()))
def test_selector_round_trip(pairs):
    """Any column names and values (without quote characters) survive format_selector -> parse_selector."""
    pairs = tuple((c.strip(), v.strip()) for c, v in pairs)
    if any(not c or not v for c, v in pairs):
        return
    assert parse_selector(format_selector(pairs)) == pairs


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_bracketed_text_is_a_rule_or_a_usage_error(inner):
    try:
        r = parse_rule(f"group_ece[{inner}] > 0.05")
    except UsageError:
        return
    assert r.group and all(isinstance(c, str) and isinstance(v, str) for c, v in r.group)


def test_schema_and_gate_name_the_same_metrics():
    assert set(SCHEMA_RULE_METRICS) == set(RULE_METRICS) == set(METRICS)
    assert {"worst_group_ece", "group_ece"} <= set(RULE_METRICS)


def test_library_rule_on_groups_without_groups_is_a_usage_error():
    from calibcli.audit import measure
    from calibcli.predictions import Predictions, ScoreKind, Task

    p = Predictions(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]), ("a", "b"), Task.BINARY, ScoreKind.PROBS)
    with pytest.raises(UsageError, match="add --by"):
        evaluate_gate(p, measure(p, 5), [parse_rule("worst_group_ece > 0.05")])


# ------------------------------------------------------------------ evaluation (CLI)

def test_worst_group_rule_fails_naming_the_miscalibrated_region(regions):
    code, d, err = _json(regions, "--by", "region", "--fail-if", "worst_group_ece > 0.08",
                         "--fail-if", "group_ece[region=north] > 0.08", "--warn-if", "group_accuracy[region=east] < 0.5")
    assert code == 1
    rules = {r["metric"]: r for r in d["gate"]["rules"]}
    worst = rules["worst_group_ece"]
    assert worst["status"] == "fail" and worst["group"] == "region=south" and worst["selector"] is None
    assert worst["value"] == pytest.approx(d["worst_group"]["ece"])
    north = rules["group_ece"]
    by_name = {g["name"]: g for g in d["groups"]}
    assert north["status"] == "pass" and north["group"] == "region=north" and north["selector"] == "region=north"
    assert north["value"] == pytest.approx(by_name["region=north"]["metrics"]["ece"])
    east = rules["group_accuracy"]
    assert east["value"] == pytest.approx(by_name["region=east"]["metrics"]["accuracy"]) and east["status"] == "pass"
    # stderr names the group (one line per failed rule)
    lines = [x for x in err.splitlines() if x.startswith("calib: gate failed")]
    assert len(lines) == 1 and "region=south" in lines[0] and "worst group's ECE" in lines[0]
    s = report_schema()
    jsonschema.Draft202012Validator(s).validate(d)


def test_upper_uses_the_groups_interval(regions):
    _, d, _ = _json(regions, "--by", "region", "--on", "upper", "--fail-if", "worst_group_ece > 0.5",
                    "--fail-if", "group_ece[region=north] > 0.5", "--fail-if", "group_accuracy[region=north] < 0.1")
    by_name = {g["name"]: g for g in d["groups"]}
    worst, north, acc = d["gate"]["rules"]
    iv = by_name["region=south"]["intervals"]["ece"]
    assert worst["interval"] == pytest.approx(iv) and worst["value"] == pytest.approx(iv[1])
    assert worst["point"] == pytest.approx(by_name["region=south"]["metrics"]["ece"])
    assert north["value"] == pytest.approx(by_name["region=north"]["intervals"]["ece"][1])
    assert acc["value"] == pytest.approx(by_name["region=north"]["intervals"]["accuracy"][0])  # a min rule: lower end
    assert all(r["status"] == "pass" for r in d["gate"]["rules"])


def test_intersection_and_lone_value(regions):
    _, d, _ = _json(regions, "--by", "region", "--by", "device", "--fail-if", "group_ece[device=ios, region=south] > 0.9")
    (r,) = d["gate"]["rules"]
    g = {x["name"]: x for x in d["groups"]}["region=south, device=ios"]
    assert r["group"] == "region=south, device=ios" and r["value"] == pytest.approx(g["metrics"]["ece"])
    _, d, _ = _json(regions, "--by", "region", "--fail-if", "group_ece[south] > 0.9")
    assert d["gate"]["rules"][0]["group"] == "region=south"


def test_worst_group_respects_min_group_rows(regions):
    r = _audit(regions, "--by", "region", "--min-group-rows", "5000", "--fail-if", "worst_group_ece > 0.05")
    assert r.exit_code == 1
    assert "no group has at least --min-group-rows 5000 rows" in r.stderr
    # a named group counts whatever its size
    r = _audit(regions, "--by", "region", "--min-group-rows", "5000", "--fail-if", "group_ece[region=north] > 0.5")
    assert r.exit_code == 0, r.stderr


def test_rule_on_groups_without_by_is_exit_2(regions):
    r = _audit(regions, "--fail-if", "worst_group_ece > 0.05")
    assert r.exit_code == 2
    assert "'worst_group_ece > 0.05'" in r.stderr and "add --by COLUMN" in r.stderr and "Traceback" not in r.stderr


def test_unknown_group_is_exit_2_with_close_names(regions):
    r = _audit(regions, "--by", "region", "--fail-if", "group_ece[region=sout] > 0.05")
    assert r.exit_code == 2
    assert "no group 'region=sout' among the 4 groups of --by region" in r.stderr and "'region=south'" in r.stderr


def test_outputs_name_the_group(regions, tmp_path, monkeypatch):
    md, xml = tmp_path / "r.md", tmp_path / "r.xml"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    r = _audit(regions, "--by", "region", "--fail-if", "worst_group_ece > 0.05", "--fail-if", "group_ece[region=north] > 0.01",
               "--md-out", md, "--junit-out", xml)
    assert r.exit_code == 1
    text = md.read_text()
    assert "worst group's ECE (region=south)" in text and "ECE of group region=north" in text
    junit = xml.read_text()
    assert "group_ece[region=north] &gt; 0.01" in junit and "worst group's ECE (region=south)" in junit
    notes = [x for x in r.stderr.splitlines() if x.startswith("::error")]
    assert len(notes) == 2 and "region=south" in notes[0] and "region=north" in notes[1]
    table = run(["audit", regions, "--no-calibration", "--by", "region", "--fail-if", "worst_group_ece > 0.05"])
    assert "worst group's ECE (region=south)" in " ".join(table.stdout.split())


def test_group_metrics_cover_the_groups_json_metrics():
    from calibcli.subgroups.schema import _METRICS

    assert set(GROUP_METRICS.values()) == set(_METRICS)
