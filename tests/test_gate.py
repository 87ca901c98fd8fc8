"""The gate library: rule grammar (including hostile text), evaluation, bootstrap, baselines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibcli.audit import measure
from calibcli.errors import InputError, UsageError
from calibcli.engine.batches import Batch, InMemorySource
from calibcli.gate import (
    METRICS,
    Rule,
    evaluate_gate,
    format_value,
    match_baseline,
    parse_rule,
    point_metrics,
    rule_from_flag,
    tokenize,
)
from calibcli.loading import load_predictions
from calibcli.predictions import Predictions, ScoreKind, Task

from conftest import SAMPLES

# ------------------------------------------------------------------ grammar


@pytest.mark.parametrize(
    "text, metric, op, limit",
    [
        ("ece > 0.05", "ece", ">", 0.05),
        ("classwise_ece>0.03", "classwise_ece", ">", 0.03),
        ("  accuracy   <   .9 ", "accuracy", "<", 0.9),
        ("ECE >= 5e-2", "ece", ">=", 0.05),
        ("samples < 1000", "samples", "<", 1000.0),
        ("nll_increase <= -1.5", "nll_increase", "<=", -1.5),  # a negative delta asks for an improvement
        ("ece_increase > -0.01", "ece_increase", ">", -0.01),
        ("brier > 1.5", "brier", ">", 1.5),
        ("ece_increase > 0.01", "ece_increase", ">", 0.01),
        ("accuracy_decrease > 1E-3", "accuracy_decrease", ">", 0.001),
    ],
)
def test_parse_valid(text, metric, op, limit):
    r = parse_rule(text, "warn", "here")
    assert (r.metric, r.op, r.limit, r.severity, r.source) == (metric, op, limit, "warn", "here")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("__import__('os')", "unexpected character"),
        ("__import__('os').system('rm -rf /')", "unexpected character"),
        ("ece > 0.1; rm -rf /", "unexpected character ';'"),
        ("ece > 0.1 and nll > 1", "unexpected text after the number"),
        ("ece > 0.1 or True", "unexpected text"),
        ("ece > 1e400", "too large"),
        ("ece > " + "9" * 400, "longer than"),
        ("ece > -1e309", "too large"),
        ("ece > nan", "expected a number"),
        ("ece > inf", "expected a number"),
        ("ece == 0.1", "unexpected character '='"),
        ("ece != 0.1", "unexpected character '!'"),
        ("ece ＞ 0.1", "unexpected character '＞'"),
        ("ece > ０.１", "unexpected character '０'"),  # full-width digits: float() would accept them
        ("ece > 1_000", "unexpected text"),  # float() accepts underscores; the grammar does not
        ("écé > 0.1", "unexpected character 'é'"),
        ("ece > 0.1\n", "unexpected character"),
        ("ece\x00 > 0.1", "unexpected character"),
        ("ece >", "expected a number"),
        ("ece 0.1", "expected a comparison"),
        ("> 0.1", "must start with a metric"),
        ("0.1 < ece", "must start with a metric"),
        ("eec > 0.1", "did you mean 'ece'"),
        ("calibration_error > 0.1", "unknown metric"),
        ("ece > 0.1 " + "x" * 300, "longer than"),
        ("ece > (0.1)", "unexpected character '('"),
        ("ece > -1", "ECE is between 0 and 1"),  # impossible limits: the rule could never pass
        ("ece > 5", "write 0.05 for 5%"),
        ("accuracy < 1.5", "accuracy is between 0 and 1"),
        ("nll <= -1.5", "NLL is never below 0"),
        ("samples < -3", "samples is never below 0"),
        ("ece_increase > 1.5", "ECE increase is between -1 and 1"),
        ("ece > 0.1 # comment", "unexpected character '#'"),
    ],
)
def test_parse_rejects(text, fragment):
    with pytest.raises(UsageError) as exc:
        parse_rule(text)
    msg = str(exc.value)
    assert fragment in msg
    assert "METRIC OP NUMBER" in msg  # every message shows the form of a rule


def test_parse_rejects_non_text():
    with pytest.raises(UsageError):
        parse_rule(0.5)  # type: ignore[arg-type]


def test_error_points_at_the_problem():
    with pytest.raises(UsageError) as exc:
        parse_rule("ece > 0.1; rm")
    lines = str(exc.value).splitlines()
    assert lines[1].strip() == "ece > 0.1; rm"
    assert lines[2].index("^") - lines[1].index("e") == len("ece > 0.1")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_never_crashes_or_evaluates(text):
    """Any text is either a valid rule or a UsageError; never another exception."""
    try:
        r = parse_rule(text)
    except UsageError:
        return
    assert r.metric in METRICS and r.op in (">", ">=", "<", "<=") and np.isfinite(r.limit)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(METRICS)), st.sampled_from([">", ">=", "<", "<="]),
       st.one_of(st.floats(-1.0, 1.0), st.floats(allow_nan=False, allow_infinity=False, width=64)))
def test_parse_round_trip(metric, op, limit):
    from calibcli.gate import GROUP_METRICS, METRIC_RANGES

    lo, hi = METRIC_RANGES[metric]
    name = f"{metric}[region=south]" if metric in GROUP_METRICS else metric  # group_* rules select one group
    if not lo <= limit <= hi:
        with pytest.raises(UsageError, match="makes the rule meaningless"):
            parse_rule(f"{name} {op} {limit!r}")
        return
    r = parse_rule(f"{name} {op} {limit!r}")
    assert (r.metric, r.op, r.limit) == (metric, op, limit)
    assert parse_rule(r.text).limit == pytest.approx(limit, rel=1e-11)


def test_tokenize_kinds():
    assert [(t.kind, t.text) for t in tokenize("nll<=2")] == [("name", "nll"), ("op", "<="), ("number", "2")]


def test_rule_from_flag():
    assert rule_from_flag("max-ece", 0.05).text == "ece > 0.05"
    assert rule_from_flag("min-samples", 100).text == "samples < 100"
    assert rule_from_flag("max-accuracy-decrease", 0.01).metric == "accuracy_decrease"
    with pytest.raises(UsageError):
        rule_from_flag("max-ece", float("inf"))


@pytest.mark.parametrize("value, limit", [(0.050123, 0.05), (0.0500001, 0.05), (0.04999999, 0.05), (1234.5, 1000.0),
                                          (0.05 + 1e-15, 0.05), (0.1 + 0.2, 0.3)])
def test_format_value_shows_why(value, limit):
    s = format_value(value, limit)
    assert float(s) != limit
    assert (float(s) > limit) == (value > limit)


def test_format_value_example_from_issue():
    assert format_value(0.050123, 0.05) == "0.05012"


# ------------------------------------------------------------------ evaluation


def _preds(path="multiclass_probs.csv"):
    return load_predictions([str(SAMPLES / path)]).predictions


def _gate(p, rules, **kw):
    return evaluate_gate(p, measure(p, 15, kw.pop("strategy", "uniform")), rules, **kw)


def test_point_evaluation_matches_measure():
    p = _preds()
    m = measure(p)
    g = evaluate_gate(p, m, [parse_rule(f"ece > {m.metrics.ece * 0.99}"), parse_rule(f"ece > {m.metrics.ece * 1.01}")])
    assert [r.status for r in g.rules] == ["fail", "pass"]
    assert g.rules[0].value == m.metrics.ece
    assert not g.passed


def test_min_rule_and_message():
    p = _preds()
    acc = measure(p).metrics.accuracy
    g = _gate(p, [rule_from_flag("min-accuracy", acc + 0.01)])
    assert g.rules[0].status == "fail"
    assert "accuracy" in g.rules[0].message and "< min" in g.rules[0].message and "--min-accuracy" in g.rules[0].message


def test_samples_rule():
    p = _preds()
    assert _gate(p, [rule_from_flag("min-samples", p.n_samples)]).passed
    assert not _gate(p, [rule_from_flag("min-samples", p.n_samples + 1)]).passed


def test_warn_and_strict():
    p = _preds()
    rules = [parse_rule("ece > 0", "warn")]
    g = _gate(p, rules)
    assert g.passed and g.rules[0].status == "warn" and g.warned
    g = _gate(p, rules, strict=True)
    assert not g.passed and g.rules[0].status == "fail"


def test_undefined_metric_fails_not_silently_passes():
    p = _preds("top_label.csv")
    g = _gate(p, [parse_rule("brier > 10")])
    assert g.rules[0].value is None and g.rules[0].status == "fail"
    assert "not defined" in g.rules[0].message


def test_no_rules_passes():
    assert _gate(_preds(), []).passed


ALL_METRICS = {"ece", "mce", "classwise_ece", "class_ece", "accuracy", "brier", "nll"}


@pytest.mark.parametrize("name", ["multiclass_probs.csv", "multiclass_logits.parquet", "binary.csv", "multilabel.csv",
                                  "top_label.csv", "cifar10_vgg16_real.csv"])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_each_replicate_is_the_measurement_of_rows_repeated_by_their_weights(name, strategy):
    """Replicate r of the grouped bootstrap = the metrics of the rows each repeated w_r(group of the row) times,
    on the same edges; also from a measurement that carries its own grouped state (no pass)."""
    from calibcli.gate.bootstrap import edges_of, replicate_values
    from calibcli.measure import DEFAULT_BLOCKS, MeasureState, measure_source
    from calibcli.stats.rng import group_of, group_poisson1_weights

    p = _preds(name)
    m = measure(p, 12, strategy)
    src = InMemorySource.from_predictions(p, 500)
    reps = replicate_values(src, m, ALL_METRICS, 12, 3, key_on_ids=False)
    own = measure_source(src, 12, strategy, intervals=True)
    assert own.state is not None
    reps_own = replicate_values(None, own, ALL_METRICS, 12, 3, key_on_ids=False)  # no source needed: no pass
    for key in ALL_METRICS:
        np.testing.assert_allclose(reps_own[key], reps[key], rtol=1e-9, atol=1e-12)
    w = group_poisson1_weights(3, 12, DEFAULT_BLOCKS)[:, group_of(np.arange(p.n_samples), DEFAULT_BLOCKS)].T.astype(int)
    for r in (0, 11):
        idx = np.repeat(np.arange(p.n_samples), w[:, r])
        dup = MeasureState(p.task, p.classes, edges_of(m, p.task)).update(Batch(p.subset(idx), idx)).finalize()
        want = point_metrics(dup, idx.size)
        for key in ALL_METRICS:
            if want[key] is None:
                assert key not in ("ece", "accuracy") and (key not in reps or np.isnan(reps[key][r])), key
            else:
                assert reps[key][r] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (key, r)


def test_upper_is_deterministic_and_seed_dependent():
    p = _preds()
    rules = [parse_rule("ece > 0.05"), parse_rule("accuracy < 0.5"), parse_rule("classwise_ece > 0.01")]
    a = _gate(p, rules, on="upper", seed=7, replicates=60)
    b = _gate(p, rules, on="upper", seed=7, replicates=60)
    c = _gate(p, rules, on="upper", seed=8, replicates=60)
    assert [r.value for r in a.rules] == [r.value for r in b.rules]
    assert [r.interval for r in a.rules] == [r.interval for r in b.rules]
    assert [r.value for r in a.rules] != [r.value for r in c.rules]


@pytest.mark.parametrize("name", ["multilabel.csv", "top_label.csv", "multiclass_probs.csv"])
def test_upper_does_not_depend_on_batching_or_row_order(name):
    p = _preds(name)
    rules = [parse_rule("ece > 0.05"), parse_rule("class_ece > 0.05"), parse_rule("accuracy < 0.5")]
    if p.task is not Task.TOP_LABEL:
        rules += [parse_rule("classwise_ece > 0.05"), parse_rule("nll > 1")]
    m = measure(p)
    whole = evaluate_gate(p, m, rules, on="upper", replicates=30)
    for batch_rows in (1, 7, 1000):
        src = InMemorySource.from_predictions(p, batch_rows)
        batched = evaluate_gate(src, m, rules, on="upper", replicates=30)
        for a, b in zip(whole.rules, batched.rules):  # the same draws; sums may differ in the last bit
            assert a.interval == pytest.approx(b.interval, rel=1e-9)
    # the rows in another order, each keeping its row key: the same weights, the same interval
    perm = np.random.default_rng(0).permutation(p.n_samples)
    from calibcli.engine.batches import SourceInfo

    info = SourceInfo((), p.classes, p.task, p.score_kind, p.n_samples)
    shuffled = evaluate_gate(InMemorySource(p.subset(perm), info, 100, rows=perm), m, rules, on="upper", replicates=30)
    for a, b in zip(whole.rules, shuffled.rules):
        assert a.interval == pytest.approx(b.interval, rel=1e-9)


def test_upper_uses_the_pessimistic_end():
    p = _preds()
    g = _gate(p, [parse_rule("ece > 0.5"), parse_rule("accuracy < 0.1")], on="upper", replicates=80)
    ece, acc = g.rules
    assert ece.interval[0] < ece.point < ece.interval[1] and ece.value == ece.interval[1]
    assert acc.interval[0] < acc.point < acc.interval[1] and acc.value == acc.interval[0]


def test_upper_fails_a_small_sample_that_passes_on_point():
    """A small validation set near the limit passes on the point estimate, not on the upper bound."""
    p = _preds("cifar10_vgg16_real.csv")
    small = p.subset(np.arange(300))
    ece = measure(small).metrics.ece
    rule = [parse_rule(f"ece > {ece * 1.05}")]
    assert _gate(small, rule).passed
    assert not _gate(small, rule, on="upper", replicates=100).passed


def test_bad_on_and_replicates():
    p = _preds()
    with pytest.raises(UsageError):
        _gate(p, [parse_rule("ece > 0.1")], on="mean")
    with pytest.raises(UsageError):
        _gate(p, [parse_rule("ece > 0.1")], on="upper", replicates=2)


# ------------------------------------------------------------------ baseline


def _toy(probs, labels, classes=("a", "b")):
    return Predictions(np.asarray(probs, float), np.asarray(labels), classes, Task.BINARY, ScoreKind.PROBS)


def test_delta_rule_needs_a_baseline():
    with pytest.raises(UsageError, match="--baseline"):
        _gate(_preds(), [parse_rule("ece_increase > 0.01")])


def test_baseline_by_position():
    p = _preds("multiclass_probs.csv")
    old = _preds("multiclass_logits.parquet")  # same items and labels
    b = match_baseline(p, old, ("old",))
    assert b.matched_by == "position"
    g = _gate(p, [parse_rule("ece_increase > 0.0001"), parse_rule("accuracy_decrease > 0.0001")], baseline=b)
    m_new, m_old = measure(p).metrics, measure(old).metrics
    assert g.rules[0].point == pytest.approx(m_new.ece - m_old.ece)
    assert g.rules[1].point == pytest.approx(m_old.accuracy - m_new.accuracy)
    assert g.baseline.n_matched == p.n_samples and g.baseline.metrics["ece"] == pytest.approx(m_old.ece)


def test_baseline_position_label_mismatch_is_an_input_error():
    new = _toy([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 1, 0])
    old = _toy([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 0, 0])
    with pytest.raises(InputError, match="row 2"):
        match_baseline(new, old, ("old.csv",))
    with pytest.raises(InputError, match="rows"):
        match_baseline(new, new.subset(np.arange(2)), ("old.csv",))


def test_baseline_by_id_pairs_rows_regardless_of_order():
    new = _toy([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], [0, 1, 0, 0])
    perm = np.array([2, 0, 3, 1])
    old = new.subset(perm)
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    b = match_baseline(new, old, ("old",), ids, ids[perm])
    assert b.matched_by == "id"
    assert np.array_equal(new.probs[b.new_rows], old.probs[b.old_rows])
    g = evaluate_gate(new, measure(new, 5), [parse_rule("brier_increase > 0")], baseline=b, n_bins=5)
    assert g.rules[0].point == pytest.approx(0.0)
    # the paired bootstrap of identical models gives a zero-width interval
    g = evaluate_gate(new, measure(new, 5), [parse_rule("brier_increase > 0")], baseline=b, n_bins=5, on="upper", replicates=20)
    assert g.rules[0].interval == (pytest.approx(0.0), pytest.approx(0.0)) and g.passed


def test_baseline_id_problems():
    new = _toy([[0.9, 0.1], [0.2, 0.8]], [0, 1])
    with pytest.raises(InputError, match="repeated"):
        match_baseline(new, new, ("old",), np.array(["a", "a"], dtype=object), np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError, match="no id"):
        match_baseline(new, new, ("old",), np.array(["a", "b"], dtype=object), np.array(["x", "y"], dtype=object))
    with pytest.raises(InputError, match="different labels"):
        match_baseline(new, new.subset(np.array([1, 0])), ("old",), np.array(["a", "b"], dtype=object), np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError, match="classes"):
        match_baseline(new, _toy([[0.9, 0.1], [0.2, 0.8]], [0, 1], ("x", "y")), ("old",))


# ------------------------------------------------------------------ streaming baseline: fingerprints, no join


def _source(p, order=None, ids=None, batch_rows=3):
    from calibcli.engine.batches import SourceInfo

    order = np.arange(p.n_samples) if order is None else order
    info = SourceInfo(("f",), p.classes, p.task, p.score_kind, p.n_samples, has_ids=ids is not None)
    return InMemorySource(p.subset(order), info, batch_rows, ids=None if ids is None else ids[order])


def test_pair_sources_by_id_accepts_any_order_and_any_batching():
    from calibcli.gate import pair_sources

    p = _preds("binary.csv")
    ids = np.array([f"id{i}" for i in range(p.n_samples)], dtype=object)
    perm = np.random.default_rng(0).permutation(p.n_samples)
    b = pair_sources(_source(p, ids=ids, batch_rows=7), _source(p, perm, ids, batch_rows=1000), ("old.csv",), by_id=True)
    assert b.matched_by == "id" and b.key_on_ids and b.n_matched == p.n_samples
    # the paired bootstrap of identical models: zero-width intervals, with no join of the rows
    g = evaluate_gate(b.new, measure(p), [parse_rule("ece_increase > 1e-9"), parse_rule("accuracy_decrease > 1e-9")],
                      baseline=b, on="upper", replicates=20)
    assert all(r.interval == (pytest.approx(0.0), pytest.approx(0.0)) for r in g.rules) and g.passed


def test_pair_sources_explains_what_differs():
    from calibcli.gate import pair_sources

    p = _preds("multiclass_probs.csv")
    ids = np.array([str(i) for i in range(p.n_samples)], dtype=object)
    with pytest.raises(InputError, match="1,000 rows but the audited predictions have 3,000"):
        pair_sources(_source(p), _source(p, np.arange(1000)), ("old.csv",), by_id=False)
    other_ids = ids.copy()
    other_ids[5] = "x"
    with pytest.raises(InputError, match="different ids"):
        pair_sources(_source(p, ids=ids), _source(p, ids=other_ids), ("old.csv",), by_id=True)
    relabelled = Predictions(p.probs, np.where(np.arange(p.n_samples) == 3, (p.labels + 1) % 5, p.labels), p.classes,
                             p.task, p.score_kind)
    with pytest.raises(InputError, match="label counts differ: '"):
        pair_sources(_source(p), _source(relabelled), ("old.csv",), by_id=False)
    swapped = p.labels.copy()
    i, j = np.flatnonzero(p.labels != p.labels[0])[0], 0
    swapped[[i, j]] = swapped[[j, i]]
    with pytest.raises(InputError, match="swapped between items.*--id-col"):
        pair_sources(_source(p), _source(Predictions(p.probs, swapped, p.classes, p.task, p.score_kind)), ("o",), by_id=False)
    with pytest.raises(InputError, match="classes"):
        pair_sources(_source(p), _source(_preds("binary.csv")), ("old.csv",), by_id=False)


def test_rule_is_frozen():
    r = Rule("ece", ">", 0.1)
    with pytest.raises(Exception):
        r.limit = 0.2  # type: ignore[misc]


def test_doctests_of_gate_config_and_renderers():
    import doctest

    import calibcli.config.files
    import calibcli.config.json_schema
    import calibcli.config.settings
    import calibcli.gate.baseline
    import calibcli.gate.evaluate
    import calibcli.gate.rules
    import calibcli.render.github
    import calibcli.render.markdown
    import calibcli.schema

    for mod in (calibcli.gate.rules, calibcli.gate.evaluate, calibcli.gate.baseline, calibcli.config.settings, calibcli.config.files,
                calibcli.config.json_schema, calibcli.render.github,
                calibcli.render.markdown, calibcli.schema):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
