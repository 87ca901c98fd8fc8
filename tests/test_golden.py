"""Golden values from the real predictions' PROVENANCE.md files."""

from __future__ import annotations

import re

import pytest

from calibcli.audit import build_audit
from calibcli.loading import load_predictions
from conftest import real


def reference(name: str) -> dict[str, float]:
    """The 'Reference numbers' table of a folder's PROVENANCE.md."""
    text = real(name, "PROVENANCE.md").read_text()
    out = {}
    for key, value in re.findall(r"^\| ([a-z0-9_]+)[^|]* \| ([-0-9.]+) \|$", text, flags=re.M):
        out[key] = float(value)
    return out


MARKUS = [
    "hollance_markus93_densenet40_c10",
    "hollance_markus93_densenet40_c100",
    "hollance_markus93_resnet110_c10",
    "hollance_markus93_resnet110_c100",
    "hollance_markus93_resnet50_birds",
]


@pytest.mark.parametrize("name", MARKUS)
def test_markus93_published_ece_and_accuracy(name):
    ref = reference(name)
    report = build_audit(load_predictions([str(real(name))]))
    assert report.input.task == "top_label"
    assert report.metrics.ece == pytest.approx(ref["published_ece15"], abs=1e-6)
    assert report.metrics.mce == pytest.approx(ref["mce15_full"], abs=1e-6)
    n = report.input.n_samples
    assert round(report.metrics.accuracy * n) == round(ref["published_accuracy"] * n)
    assert report.metrics.accuracy == pytest.approx(ref["published_accuracy"], abs=1e-6)


@pytest.mark.parametrize("bins,key", [(10, "ece10_full"), (20, "ece20_full")])
def test_markus93_other_bin_counts(bins, key):
    ref = reference("hollance_markus93_resnet50_birds")
    report = build_audit(load_predictions([str(real("hollance_markus93_resnet50_birds"))]), n_bins=bins)
    assert report.metrics.ece == pytest.approx(ref[key], abs=1e-6)


def test_plambda_vgg16_cross_checked_values():
    report = build_audit(load_predictions([str(real("plambda_cifar10_vgg16"))]))
    m = report.metrics
    assert m.accuracy == 0.9359
    assert m.ece == pytest.approx(0.03978, abs=1e-5)
    assert m.mce == pytest.approx(0.28569, abs=1e-5)
    assert m.nll == pytest.approx(0.25706, abs=1e-5)
    assert m.brier == pytest.approx(0.10545, abs=1e-5)


@pytest.mark.parametrize(
    "name",
    ["plambda_cifar10_vgg16", "cleanlab_20news_cv", "cleanlab_imdb_cv", "netcal_coco_faster-rcnn-resnet-50_iou0.60", "netcal_cifar10_wrn16-4"],
)
def test_reference_table_full_vector_files(name):
    ref = reference(name)
    report = build_audit(load_predictions([str(real(name))]))
    m = report.metrics
    # IMDB holds 2,744 probabilities up to 1.00001, which calib clips to 1 (within its 1e-4 tolerance); the
    # references were computed on the raw values: ECE and NLL move by < 1e-6, plus 5e-7 of rounding in the table
    tol = 1.5e-6 if name == "cleanlab_imdb_cv" else 1e-6
    assert m.accuracy == pytest.approx(ref["accuracy"], abs=1e-6)
    # the published ece15/mce15 are top-label: binary files keep them as ece_top_label and the top-label curve
    assert m.ece_top_label == pytest.approx(ref["ece15_full"], abs=tol)
    assert report.measurement.reliability.mce() == pytest.approx(ref["mce15_full"], abs=1e-6)
    assert m.nll == pytest.approx(ref["nll_full"], abs=tol)
    assert m.brier == pytest.approx(ref["brier_full"], abs=1e-6)
    if "ece15_pos_full" in ref:  # binary: the headline ECE is the positive class's one-vs-rest ECE
        assert m.ece == pytest.approx(ref["ece15_pos_full"], abs=1e-6)
        assert report.measurement.classes[1].ece == pytest.approx(ref["ece15_pos_full"], abs=1e-6)
        assert m.mce == pytest.approx(report.measurement.classes[1].reliability.mce(), abs=1e-12)
    else:
        assert m.ece == pytest.approx(ref["ece15_full"], abs=tol)
        assert m.mce == pytest.approx(ref["mce15_full"], abs=1e-6)


def test_coco_headline_is_the_positive_class_as_peers_read_it():
    """COCO detections: peers (scikit-learn calibration_curve, netcal) say 0.1905; top-label says 0.0861."""
    name = "netcal_coco_faster-rcnn-resnet-50_iou0.60"
    ref = reference(name)
    m = build_audit(load_predictions([str(real(name))])).metrics
    assert m.ece == pytest.approx(0.190532, abs=1e-6) == pytest.approx(ref["ece15_pos_full"], abs=1e-6)
    assert m.ece_top_label == pytest.approx(0.086074, abs=1e-6)
