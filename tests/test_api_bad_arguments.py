"""Bad arguments to the Python API and calibcli.metrics: a clear CalibError, ValueError or TypeError naming
the argument, never another exception type and never a numpy warning (fuzz findings 5-10)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import calibcli
import calibcli.metrics as m
from calibcli.errors import InputError, UsageError

Y = np.array([0, 1, 0, 1])
P = np.array([0.2, 0.7, 0.4, 0.9])
P2 = np.column_stack([1 - P, P])
DF = pd.DataFrame({"target": Y, "p_1": P})


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------ metrics
def test_nll_from_logits_one_column_is_the_positive_class_logit():
    z = np.array([0.2, 1.5, -0.3, 2.0])
    expected = np.mean(np.log1p(np.exp(-np.where(Y == 1, z, -z))))  # -log sigmoid(+-z)
    assert m.nll_from_logits(Y, z[:, None]) == pytest.approx(expected, rel=1e-12)
    assert m.nll_from_logits(Y, z) == pytest.approx(expected, rel=1e-12)
    assert m.nll_from_logits(Y, np.column_stack([np.zeros(4), z])) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("y, z, words", [
    (Y, np.zeros((4, 2, 1)), "logits must have shape"),
    (Y[:3], np.zeros((4, 2)), "y_true has shape (3,)"),
    (np.array([0, 2, 0, 1]), np.zeros((4, 2)), "class indices 0 .. 1"),
    (Y, np.array([[0, np.nan]] * 4), "finite"),
    (Y, np.zeros((4, 2), dtype=complex), "dtype complex128"),
    (None, np.zeros((4, 2)), "y_true"),
])
def test_nll_from_logits_refuses_bad_input(y, z, words):
    with pytest.raises(ValueError, match=None) as info:
        m.nll_from_logits(y, z)
    assert words in str(info.value)


STATISTICS = ["ece_l2", "ece_debiased", "spiegelhalter_z", "spiegelhalter_p", "cox_calibration", "cox_slope",
              "cox_intercept", "calibration_in_the_large", "hosmer_lemeshow", "hosmer_lemeshow_p",
              "brier_decomposition", "brier_reliability", "brier_resolution", "brier_uncertainty", "auroc",
              "average_precision", "smece", "corp_decomposition", "ecce", "ici", "e50", "e90", "emax"]


@pytest.mark.parametrize("name", STATISTICS)
@pytest.mark.parametrize("y, p, kwargs, words", [
    (None, P, {}, "y_true is None"),
    (Y, None, {}, "y_prob is None"),
    (Y, P.astype(complex), {}, "y_prob must hold real numbers"),
    (Y.astype(complex), P, {}, "y_true must hold real numbers"),
    (Y, np.array(["a", "b", "c", "d"]), {}, "y_prob must hold real numbers"),
    (Y, P2, {}, "y_prob must have shape (n,)"),
    (Y, np.array([0.2, np.nan, 0.4, 0.9]), {}, "y_prob must hold finite"),
    (Y, P, {"sample_weight": np.full(4, 1e308)}, "sample_weight sums to more than"),
    (Y, P, {"sample_weight": np.full(4, 1j)}, "sample_weight must hold real numbers"),
])
def test_statistics_refuse_bad_arrays_naming_the_argument(name, y, p, kwargs, words):
    with pytest.raises(ValueError) as info:
        getattr(m, name)(y, p, **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("name", STATISTICS)
def test_statistics_accept_a_column_vector_and_object_numbers(name):
    """(n, 1) arrays and object arrays of numbers are the same values (no regression from the checks)."""
    a = getattr(m, name)(Y, P)
    b = getattr(m, name)(Y[:, None], P.astype(object)[:, None])
    assert repr(a) == repr(b)


@pytest.mark.parametrize("name", ["expected_calibration_error", "accuracy", "brier_score", "negative_log_likelihood",
                                  "headline_metrics", "classwise_ece"])
def test_array_metrics_refuse_overflowing_weights_without_a_warning(name):
    with pytest.raises(ValueError, match="sample_weight sums to more than"):
        getattr(m, name)(Y, P, sample_weight=np.full(4, 1e308))


@pytest.mark.parametrize("y, p", [(Y, P.astype(complex)), (Y.astype(complex), P), (Y[:3], P), (Y, P2[:, :, None])])
def test_top_label_stats_refuses_bad_arrays(y, p):
    with pytest.raises(ValueError):
        m.top_label_stats(y, p)


# ------------------------------------------------------------------ API
@pytest.mark.parametrize("fn", ["audit", "fit", "thresholds"])
def test_complex_scores_are_refused_naming_the_dtype(fn):
    kwargs = {"audit": {"calibrators": None}, "fit": {}, "thresholds": {"n_bootstrap": 0}}[fn]
    with pytest.raises(InputError, match="y_prob has dtype complex128"):
        getattr(calibcli, fn)(y_true=Y, y_prob=P.astype(complex), **kwargs)


def test_transform_refuses_complex_scores():
    cal = calibcli.fit(y_true=Y, y_prob=P, method="platt")
    with pytest.raises(InputError, match="dtype complex128"):
        cal.transform(P.astype(complex))


def test_a_column_vector_y_true_is_read_as_labels():
    """Decision: y_true of shape (n, 1) is a column of labels (raveled), as scikit-learn reads it."""
    a = calibcli.audit(y_true=Y[:, None], y_prob=P2, calibrators=None)
    b = calibcli.audit(y_true=Y, y_prob=P2, calibrators=None)
    assert a.input.task == b.input.task == "binary"
    assert a.metrics.ece == b.metrics.ece


@pytest.mark.parametrize("y_true, words", [
    (np.zeros((4, 3), dtype=int), "y_true has shape (4, 3) and y_prob (4, 2)"),
    (np.int64(1), "y_true has shape ()"),
    (np.zeros((4, 2, 1), dtype=int), "y_true has shape (4, 2, 1)"),
])
def test_y_true_of_another_shape_is_refused_naming_both_shapes(y_true, words):
    with pytest.raises(UsageError) as info:
        calibcli.audit(y_true=y_true, y_prob=P2, calibrators=None)
    assert words in str(info.value)


def test_categorical_label_with_a_huge_int_names_the_column():
    df = pd.DataFrame({"label": pd.Series(["a", "b", "a", 2**63]).astype("category"),
                       "p_a": [0.8, 0.3, 0.6, 0.1], "p_b": [0.2, 0.7, 0.4, 0.9]})
    with pytest.raises(InputError, match="DataFrame column 'label' cannot be read"):
        calibcli.audit(df, calibrators=None)


@pytest.mark.parametrize("fn, kwargs, message", [
    ("thresholds", {"label": 5}, "label must be a column name (str), got int 5"),
    ("audit", {"label": None}, "label must be a column name (str), got NoneType None"),
    ("fit", {"label": ["target"]}, "label must be a column name (str)"),
    ("audit", {"fail_if": 5}, "fail_if must be a string or a list of strings, got int 5"),
    ("audit", {"warn_if": [1]}, "warn_if must be a string or a list of strings"),
    ("audit", {"score_cols": 5}, "score_cols must be a string or a list of strings, got int 5"),
    ("fit", {"score_cols": 5}, "score_cols must be a string or a list of strings"),
    ("audit", {"classes": 3}, "classes must be a string or a list of strings or integers, got int 3"),
    ("thresholds", {"classes": 3}, "classes must be a string or a list of strings or integers"),
    ("audit", {"objectives": 5}, "objectives must be a string or a list of strings, got int 5"),
    ("thresholds", {"objectives": 5}, "objectives must be a string or a list of strings"),
    ("audit", {"calibrators": 5}, "calibrators must be a string or a list of strings, got int 5"),
    ("fit", {"method": 5}, "method must be a calibrator name (str), got int 5"),
    ("audit", {"by": 5}, "by must be a string or a list of strings, got int 5"),
    ("audit", {"models": 5}, "models must be a string or a list of strings, got int 5"),
    ("audit", {"threshold_classes": 5}, "threshold_classes must be a string or a list of strings or integers"),
    ("thresholds", {"target_classes": 5}, "target_classes must be a string or a list of strings or integers"),
    ("audit", {"id_col": 5}, "id_col must be a column name (str), got int 5"),
    ("audit", {"encoding": 5}, "encoding must be a codec name (str), got int 5"),
])
def test_argument_types_are_checked_at_the_api_boundary(fn, kwargs, message):
    base = {"audit": {"calibrators": None}, "fit": {}, "thresholds": {"n_bootstrap": 0}}[fn]
    with pytest.raises(TypeError) as info:
        getattr(calibcli, fn)(DF, **{"label": "target", **base, **kwargs})
    assert message in str(info.value)


def test_names_as_lists_and_comma_strings_still_work():
    df = DF.assign(p_0=1 - P)
    a = calibcli.audit(df, label="target", score_cols=["p_0", "p_1"], classes=[0, 1], fail_if=["ece > 0.9"],
                       calibrators=None)
    b = calibcli.audit(df, label="target", score_cols="p_0,p_1", classes="0,1", fail_if="ece > 0.9",
                       calibrators=None)
    assert a.metrics.ece == b.metrics.ece
