"""The decision verdict: every wording branch, statuses, JSON and text."""

from __future__ import annotations

import json

import pytest

from calibcli.verdict import decision_verdict, probability_line, ranking_line, threshold_line


def test_probabilities_ok_within_tolerance():
    line = probability_line(0.012, (0.008, 0.017))
    assert line.status == "ok"
    assert line.sentence == "usable as probabilities: ECE 0.012 [0.008, 0.017] is within the tolerance 0.02"


def test_probabilities_only_after_calibrator():
    line = probability_line(0.086, (0.07, 0.1), 0.011, (0.006, 0.016), "temperature")
    assert line.status == "warn"
    assert line.sentence == ("use as probabilities only after temperature: ECE 0.086 [0.070, 0.100] exceeds 0.02; "
                             "0.011 [0.006, 0.016] after temperature is within it")
    assert line.evidence["ece_after"] == 0.011


def test_probabilities_point_within_interval_not():
    line = probability_line(0.015, (0.005, 0.03))
    assert line.status == "warn" and "is within 0.02 but its interval is not" in line.sentence


def test_probabilities_fail_even_after_calibrator():
    line = probability_line(0.19, (0.18, 0.2), 0.05, (0.04, 0.06), "isotonic")
    assert line.status == "fail"
    assert line.sentence == ("do not use as probabilities: ECE 0.190 [0.180, 0.200] exceeds 0.02; "
                             "0.050 [0.040, 0.060] after isotonic exceeds it too")
    near = probability_line(0.19, (0.18, 0.2), 0.015, (0.01, 0.03), "isotonic")  # after: point within, interval not
    assert near.status == "fail" and near.sentence.endswith(
        "0.015 [0.010, 0.030] after isotonic is within it but its interval is not (more rows would decide)")


def test_probabilities_fail_without_calibrator():
    line = probability_line(0.05, None, tolerance=0.03)
    assert line.status == "fail" and "exceeds 0.03 (no calibrator was fitted)" in line.sentence


def test_probabilities_without_measurement():
    assert probability_line(None).status == "warn"
    assert probability_line(float("nan")).status == "warn"


def test_no_interval_uses_the_point():
    assert probability_line(0.019).status == "ok" and probability_line(0.021).status == "fail"


@pytest.mark.parametrize("auroc, iv, status, text", [
    (0.934, (0.93, 0.94), "ok", "usable for ranking: AUROC 0.934 [0.930, 0.940] (calibration does not change the order)"),
    (0.62, (0.58, 0.66), "warn", "weak for ranking: AUROC 0.620 [0.580, 0.660], below 0.7"),
    (0.72, (0.45, 0.99), "warn", "weak for ranking: AUROC 0.720 [0.450, 0.990], its interval reaches 0.5 (chance)"),
    (0.45, (0.40, 0.50), "fail", "do not rank by these scores: AUROC 0.450 [0.400, 0.500] is no better than chance"),
    (None, None, "warn", "AUROC is not defined (the outcome has one class only)"),
])
def test_ranking_branches(auroc, iv, status, text):
    line = ranking_line(auroc, iv)
    assert (line.status, line.sentence) == (status, text)


def test_threshold_branches():
    assert threshold_line(None) is None
    moved = threshold_line(0.9, 0.7, "temperature", "class 'unsafe'")
    assert moved.status == "warn"
    assert moved.sentence == ("a rule on class 'unsafe' at 0.900 should be 0.700 once the scores are calibrated by "
                              "temperature (moves -0.200)")
    assert moved.evidence["move"] == pytest.approx(-0.2)
    stays = threshold_line(0.5, 0.52, "temperature")
    assert stays.status == "ok" and stays.sentence == "a rule at 0.500 stays valid: 0.520 after temperature (moves +0.020)"
    alone = threshold_line(0.62)
    assert alone.status == "info" and "no calibrated threshold to compare" in alone.sentence  # nothing judged
    assert decision_verdict(ece=0.01, ece_interval=(0.005, 0.015), ranking_measured=False,
                            threshold_before=0.62).status == "ok"


def test_verdict_status_dict_and_lines():
    v = decision_verdict(ece=0.19, ece_interval=(0.18, 0.2), ece_after=0.012, ece_after_interval=(0.008, 0.016),
                         calibrator="temperature", auroc=0.95, auroc_interval=(0.94, 0.96),
                         threshold_before=0.9, threshold_after=0.7)
    assert v.status == "warn" and [x.use for x in v.items] == ["probabilities", "ranking", "threshold"]
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert d["status"] == "warn" and d["tolerance"] == 0.02 and len(d["lines"]) == 3
    assert d["lines"][0]["evidence"]["ece_interval"] == [0.18, 0.2]
    text = v.lines()
    assert text[0].startswith("WARN  probabilities: use as probabilities only after temperature")
    assert text[1].startswith("OK    ranking: usable for ranking")
    assert max(len(t) for t in text) < 200
    bad = decision_verdict(ece=0.3, auroc=0.4, auroc_interval=(0.35, 0.45))
    assert bad.status == "fail" and len(bad.items) == 2


def test_tolerance_must_be_positive():
    with pytest.raises(ValueError, match="tolerance"):
        decision_verdict(ece=0.1, tolerance=0)


def test_unmeasured_ranking_is_neutral():
    """Without --statistics nothing judged the ranking: the line is info and the overall status ignores it."""
    good = dict(ece=0.01, ece_interval=(0.005, 0.015))
    v = decision_verdict(**good, ranking_measured=False)
    ranking = v.items[1]
    assert (ranking.use, ranking.status, ranking.sentence) == ("ranking", "info", "not measured (add --statistics)")
    assert v.status == "ok"  # before: warn, so a default audit was never better than warn
    assert v.to_dict()["status"] == "ok" and v.to_dict()["lines"][1]["status"] == "info"
    assert v.lines()[1] == "INFO  ranking: not measured (add --statistics)"
    # a measured ranking still counts, and a bad one still fails
    assert decision_verdict(**good, auroc=0.62, auroc_interval=(0.58, 0.66)).status == "warn"
    assert decision_verdict(ece=0.3, ranking_measured=False).status == "fail"
    assert decision_verdict(**good, ranking_measured=False, threshold_before=0.9, threshold_after=0.7,
                            calibrator="temperature").status == "warn"


def test_unmeasured_line_validates_against_the_schema():
    import jsonschema

    from calibcli.statistics.schema import verdict_schema

    v = decision_verdict(ece=0.01, ece_interval=(0.005, 0.015), ranking_measured=False)
    jsonschema.Draft202012Validator(verdict_schema()).validate(json.loads(json.dumps(v.to_dict())))
