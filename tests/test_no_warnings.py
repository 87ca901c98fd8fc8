"""No numpy RuntimeWarning (or any other library warning) from the metric, report and plot code,
on degenerate inputs included: they would leak to stderr even under -q."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from rich.console import Console

from calibcli import metrics as m
from calibcli.audit import build_audit
from calibcli.loading import LoadOptions, load_predictions
from calibcli.plotdata import classes_data, confidence_data, reliability_data
from calibcli.render.jsonout import render_json
from calibcli.render.markdown import render_markdown
from calibcli.render.plots import render_all
from calibcli.render.terminal import render_audit

DEGENERATE = {
    "constant_binary.csv": "label,p_1\n" + "".join(f"{i % 2},0.5\n" for i in range(40)),
    "separated_binary.csv": "label,p_1\n" + "".join(f"{i % 2},{0.99 if i % 2 else 0.01}\n" for i in range(40)),
    "hard_multiclass.csv": "label,p_a,p_b,p_c\n" + "".join(
        f"{'abc'[i % 3]},{int(i % 3 == 0)},{int(i % 3 == 1)},{int(i % 3 == 2)}\n" for i in range(30)),
    "class_never_predicted.csv": "label,p_a,p_b,p_c\na,0.5,0.3,0.2\nb,0.5,0.3,0.2\na,0.5,0.3,0.2\n",
    "top_label_one_prediction.csv": "label,pred_label,confidence\na,a,0.9\nb,a,0.8\nc,a,0.7\n",
    "top_label_zero_confidence.csv": "label,pred_label,confidence\na,b,0\nb,a,0\n",
    "multilabel_never_present.csv": "y_x,y_y,p_x,p_y\n0,0,0.1,0.2\n0,0,0.3,0.4\n",
    "multilabel_all_ones.csv": "y_x,y_y,p_x,p_y\n1,1,1,1\n1,1,1,1\n",
    "huge_logits.csv": "label,logit_a,logit_b,logit_c\na,1e300,-1e300,0\nb,-1e300,1e300,5\nc,0,1,1e300\na,3,2,1\n",
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_measure_render_and_draw_without_warnings(tmp_path, name, strategy):
    path = tmp_path / name
    path.write_text(DEGENERATE[name], encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loading is not under test here
        loaded = load_predictions([str(path)], LoadOptions())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build_audit(loaded, 15, strategy)
        render_json([report])
        render_markdown([report])
        Console(file=io.StringIO(), width=80).print(render_audit(report))
        render_all(reliability_data(report), classes_data(report), confidence_data(report))


def test_metric_functions_on_empty_input_give_nan_quietly():
    y, p = np.array([], dtype=int), np.zeros((0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (m.expected_calibration_error, m.maximum_calibration_error, m.classwise_ece, m.brier_score,
                  m.negative_log_likelihood, m.nll_from_logits):
            assert np.isnan(f(y, p)), f.__name__


def test_nll_from_logits_far_apart_has_no_overflow_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.nll_from_logits([0], [[1e308, -1e308]]) == 0.0
        assert m.nll_from_logits([1], [[1e308, -1e308]]) == pytest.approx(-np.log(m.NLL_CLIP))
