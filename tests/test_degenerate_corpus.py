"""A corpus of small degenerate files run through every command that writes JSON.

Each file is valid or nearly so but sits at an edge: one or two rows, all scores
identical, one class only, a class never predicted or never present,
probabilities exactly 0 or 1, one score column, a multi-label label that is
always 0, top-label files, ties everywhere, many classes and few rows, extreme
logits. Every run must exit 0, 1 or 2 (never 3, never a traceback), every JSON
it writes must validate against ``calib schema``, every calibrator ``calib fit``
writes must load, and no numpy warning (RuntimeWarning: divide by zero, invalid
value, overflow) may reach the user.

Files come in two sizes: as written (a few rows) and repeated 6 times (enough
rows for the calibrators' held-out evaluation).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from calibcli.calibrator_file import load_calibrator
from calibcli.schema import report_schema
from tests.cli_helpers import run

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_BINARY = str(ROOT / "sample_data" / "binary.csv")
REPEAT = 6
METHODS = ("temperature", "vector", "platt", "isotonic", "histogram")
ALL_OBJECTIVES = ["--objective", "f1", "--objective", "youden", "--cost-fp", "1", "--cost-fn", "3", "--beta", "2",
                  "--min-precision", "0.9", "--min-recall", "0.9", "--max-flag-rate", "0.1", "--review-precision", "0.9"]
POINT_RULES = ["--max-ece", "0.1", "--max-classwise-ece", "0.1", "--max-class-ece", "0.1", "--max-mce", "0.5",
               "--max-brier", "0.5", "--max-nll", "1", "--min-accuracy", "0.5", "--min-samples", "3",
               "--fail-if", "ece > 0.2", "--warn-if", "mce > 0.3"]
BASELINE_RULES = ["--max-ece-increase", "0.01", "--max-classwise-ece-increase", "0.01", "--max-brier-increase", "0.1",
                  "--max-nll-increase", "0.1", "--max-accuracy-decrease", "0.1", "--fail-if", "class_ece_increase > 0.01"]


def _huge_k(k: int = 40, n: int = 5) -> tuple[list[str], list[list]]:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    p /= p.sum(axis=1, keepdims=True)
    rows = [[int(rng.integers(k)), *[repr(float(v)) for v in row]] for row in p]
    return ["label", *[f"p_c{j}" for j in range(k)]], rows


# name: (header, rows); names start with the task (bin_, mc_, ml_, top_)
BASE: dict[str, tuple[list[str], list[list]]] = {
    "bin_one_row": (["label", "p_1"], [[1, 0.7]]),
    "bin_two_rows": (["label", "p_1"], [[0, 0.2], [1, 0.9]]),
    "bin_two_rows_inverted": (["label", "p_1"], [[1, 0.2], [0, 0.9]]),
    "bin_identical": (["label", "p_1"], [[0, 0.5], [1, 0.5], [1, 0.5], [0, 0.5]]),
    "bin_identical_two_columns": (["label", "p_0", "p_1"], [[0, 0.3, 0.7], [1, 0.3, 0.7], [1, 0.3, 0.7]]),
    "bin_one_class": (["label", "p_0", "p_1"], [[1, 0.2, 0.8], [1, 0.6, 0.4], [1, 0.1, 0.9]]),
    "bin_hard_0_1": (["label", "p_0", "p_1"], [[0, 1.0, 0.0], [1, 0.0, 1.0], [1, 1.0, 0.0], [0, 0.0, 1.0], [1, 0.0, 1.0]]),
    "bin_hard_0_1_one_column": (["label", "p_1"], [[0, 0.0], [1, 1.0], [1, 0.0], [0, 1.0], [0, 0.0]]),
    "bin_perfect": (["label", "p_1"], [[0, 0.0], [1, 1.0], [1, 1.0], [0, 0.0]]),
    "bin_p0_one_column": (["label", "p_0"], [[0, 0.8], [1, 0.3], [1, 0.1], [0, 0.6]]),
    "bin_ties": (["label", "p_1"], [[i % 2, [0.2, 0.8][(i // 3) % 2]] for i in range(12)]),
    "bin_tiny_probs": (["label", "p_1"], [[0, 1e-300], [1, 5e-324], [1, 1 - 1e-16], [0, 1 - 1e-16], [1, 0.5]]),
    "bin_logits_identical": (["label", "logit_0", "logit_1"], [[0, 0.0, 0.0], [1, 0.0, 0.0], [1, 0.0, 0.0]]),
    "bin_logit_one_column": (["label", "logit_1"], [[0, -3.0], [1, 2.0], [1, 2.0], [0, 2.0]]),
    "bin_extreme_logits": (["label", "logit_1"], [[0, -1e308], [1, 1e308], [1, 1e308], [0, -1e308], [1, -1e308], [0, 1e308]]),
    "bin_above_one": (["label", "p_1"], [[0, 1.00005], [1, 1.00005], [1, 0.99], [0, 0.2], [1, 0.7]]),
    "mc_one_row": (["label", "p_a", "p_b", "p_c"], [[1, 0.2, 0.5, 0.3]]),
    "mc_two_rows": (["label", "p_a", "p_b", "p_c"], [[0, 0.5, 0.3, 0.2], [2, 0.1, 0.1, 0.8]]),
    "mc_never_predicted": (["label", "p_a", "p_b", "p_c"],
                           [[0, 0.6, 0.3, 0.1], [1, 0.2, 0.7, 0.1], [2, 0.5, 0.4, 0.1], [0, 0.7, 0.2, 0.1]]),
    "mc_never_present": (["label", "p_a", "p_b", "p_c"],
                         [["a", 0.6, 0.3, 0.1], ["b", 0.2, 0.7, 0.1], ["a", 0.5, 0.1, 0.4], ["b", 0.1, 0.5, 0.4]]),
    "mc_never_present_nor_predicted": (["label", "p_a", "p_b", "p_c"],
                                       [["a", 0.6, 0.1, 0.3], ["b", 0.3, 0.6, 0.1], ["a", 0.1, 0.6, 0.3], ["b", 0.6, 0.3, 0.1]]),
    "mc_hard_0_1": (["label", "p_a", "p_b", "p_c"], [["a", 1, 0, 0], ["b", 0, 1, 0], ["c", 0, 0, 1], ["a", 0, 0, 1]]),
    "mc_identical": (["label", "p_a", "p_b", "p_c"], [[k, 0.25, 0.5, 0.25] for k in (0, 1, 2, 0, 1)]),
    "mc_ties": (["label", "p_a", "p_b", "p_c"], [[i % 3, 0.5, 0.25, 0.25] for i in range(9)]),
    "mc_sums_off_within_tolerance": (["label", "p_a", "p_b", "p_c"],
                                     [[0, 0.50005, 0.3, 0.2], [1, 0.2, 0.79995, 0.0], [2, 0.0, 0.0, 1.00009], [0, 0.4, 0.4, 0.2]]),
    "mc_huge_k": _huge_k(),
    "mc_huge_k_logits_identical": (["label", *[f"logit_c{j}" for j in range(40)]], [[i * 37 % 40] + [0.0] * 40 for i in range(4)]),
    "mc_extreme_logits": (["label", "logit_a", "logit_b", "logit_c"],
                          [[0, 1e300, -1e300, 0.0], [1, -1e300, 1e300, 0.0], [2, 0.0, 1e300, -1e300]]),
    "ml_one_row": (["y_a", "y_b", "p_a", "p_b"], [[1, 0, 0.8, 0.1]]),
    "ml_label_always_0": (["y_a", "y_b", "p_a", "p_b"], [[1, 0, 0.8, 0.1], [0, 0, 0.3, 0.2], [1, 0, 0.6, 0.4]]),
    "ml_label_always_1": (["y_a", "y_b", "p_a", "p_b"], [[1, 1, 0.8, 0.9], [0, 1, 0.3, 0.7], [1, 1, 0.6, 0.4]]),
    "ml_all_labels_0": (["y_a", "y_b", "p_a", "p_b"], [[0, 0, 0.8, 0.1], [0, 0, 0.3, 0.2]]),
    "ml_one_label": (["y_a", "p_a"], [[1, 0.8], [0, 0.3], [1, 0.3]]),
    "ml_hard_0_1": (["y_a", "y_b", "p_a", "p_b"], [[1, 0, 1.0, 0.0], [0, 1, 0.0, 1.0], [1, 1, 0.0, 1.0]]),
    "ml_identical": (["y_a", "y_b", "p_a", "p_b"], [[1, 0, 0.5, 0.5], [0, 1, 0.5, 0.5], [1, 1, 0.5, 0.5]]),
    "top_one_row": (["label", "pred_label", "confidence"], [["a", "a", 0.9]]),
    "top_all_correct": (["label", "pred_label", "confidence"], [["a", "a", 0.9], ["b", "b", 0.8], ["a", "a", 0.7]]),
    "top_identical": (["label", "pred_label", "confidence"],
                      [["a", "a", 0.6], ["b", "a", 0.6], ["a", "b", 0.6], ["b", "b", 0.6]]),
    "top_confidence_0_1": (["label", "pred_label", "confidence"],
                           [["a", "a", 1.0], ["b", "a", 0.0], ["a", "b", 0.0], ["b", "b", 1.0]]),
    "top_class_never_predicted": (["label", "pred_label", "confidence"],
                                  [["a", "a", 0.9], ["b", "a", 0.6], ["c", "a", 0.55], ["a", "a", 0.7]]),
}
NAMES = sorted([*BASE, *(f"{n}_x{REPEAT}" for n in BASE)])

# Known defects in code owned elsewhere, as strict xfails (a fix then shows up as XPASS: delete the entry).
# Keys: (corpus file, a substring of the run's label), e.g. ("bin_above_one_x6", "fit isotonic").
KNOWN: dict[tuple[str, str], str] = {}


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    path.write_text("\n".join([",".join(header), *(",".join(str(v) for v in r) for r in rows)]) + "\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("degenerate")
    for name, (header, rows) in BASE.items():
        _write(d / f"{name}.csv", header, rows)
        _write(d / f"{name}_x{REPEAT}.csv", header, rows * REPEAT)
    return d


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(report_schema())


def _calib(args: list) -> tuple[object, list[str]]:
    """Run calib in-process; the result and every warning raised on the way (as text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run(["--no-config", *map(str, args)])
    shown = [f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    return res, shown


def _check(res, shown: list[str], what: str) -> None:
    assert res.exit_code in (0, 1, 2), f"{what}: exit {res.exit_code}\n{res.stderr}"
    assert "Traceback" not in res.stderr, f"{what}:\n{res.stderr}"
    assert not shown, f"{what}: warnings reached the user: {shown[:3]}"
    assert "Warning:" not in res.stderr and "RuntimeWarning" not in res.stderr, f"{what}:\n{res.stderr}"
    if res.exit_code == 2:
        assert res.stderr.startswith("calib: error:") or "Error:" in res.stderr, f"{what}: exit 2 without a message"


def _validate(validator, doc, what: str) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: len(list(e.absolute_path)))
    if errors:
        e = errors[0]
        deepest = min(e.context or [e], key=lambda c: -len(list(c.absolute_path)))
        pytest.fail(f"{what}: JSON does not validate: {deepest.message[:300]} at {list(deepest.absolute_path)}")


def _cases(name: str) -> list[tuple[str, list[str]]]:
    """(label, arguments after the file) of every JSON-writing run for one corpus file."""
    cases = []
    if name.startswith("top_") or not name.endswith(f"_x{REPEAT}"):
        # top-label files cannot be calibrated, and under 10 rows calibration is a usage error (exit 2) that would
        # hide the rest of the run
        cases.append(("audit, objectives, rules", ["--no-calibration", *ALL_OBJECTIVES, "--threshold-bootstrap", "10",
                                                   *POINT_RULES]))
    else:
        cal = ["--calibrators", ",".join(METHODS), *ALL_OBJECTIVES, "--threshold-bootstrap", "10", *POINT_RULES]
        cases.append(("audit, five calibrators, objectives, rules", cal))
    if not name.endswith(f"_x{REPEAT}"):
        cases.append(("audit, default calibration", []))  # too few rows to calibrate: exit 2 leaves no file
    if name.startswith("ml_"):
        cases.append(("audit --per-label", ["--per-label", "--calibration-split", "0.5", "--max-ece", "0.1"]))
    cases.append(("audit, quantile bins, --on upper, baseline", [
        "--no-calibration", "--binning", "quantile", "--bins", "4", "--objective", "f1", "--threshold-bootstrap", "10",
        *POINT_RULES, "--on", "upper", "--gate-replicates", "10", "--baseline", "{file}", *BASELINE_RULES]))
    return cases


def _known(name: str, what: str):
    for (file, part), reason in KNOWN.items():
        if name == file and part in what:
            return pytest.mark.xfail(reason=reason, strict=True)
    return None


def _params():
    out = []
    for name in NAMES:
        for what, extra in _cases(name):
            mark = _known(name, what)
            out.append(pytest.param(name, "audit", extra, id=f"{name}-{what}", marks=[mark] if mark else []))
        mark = _known(name, "thresholds")
        out.append(pytest.param(name, "thresholds", [*ALL_OBJECTIVES, "--bootstrap", "10"], id=f"{name}-thresholds",
                                marks=[mark] if mark else []))
    return out


@pytest.mark.parametrize("name, command, extra", _params())
def test_json_of_every_command_validates(corpus, validator, tmp_path, name, command, extra):
    path = corpus / f"{name}.csv"
    out = tmp_path / "out.json"
    extra = [str(path) if a == "{file}" else a for a in extra]
    # thresholds: --keep-going so a failing file still writes its JSON (failures listed) to validate
    written = ["--json-out", out] if command == "audit" else ["-o", out, "--keep-going"]
    res, shown = _calib([command, path, *extra, "--format", "json", *written])
    what = f"calib {command} {name}.csv {' '.join(extra)}"
    _check(res, shown, what)
    if res.exit_code == 2 and command == "audit":
        assert not out.exists(), f"{what}: exit 2 left {out.name} behind"
        return
    if res.exit_code == 2:  # calib thresholds --keep-going reports a file that fails in "failures" and exits 2
        doc = json.loads(out.read_text())
        assert doc["failures"] and not doc["results"], what
    docs = [json.loads(out.read_text())]
    if command == "audit":
        docs.append(json.loads(res.stdout))
        assert docs[0] == docs[1], f"{what}: --json-out differs from stdout"
    for doc in docs:
        _validate(validator, doc, what)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[m] if (m := _known(n, "fit")) else []) for n in NAMES])
def test_fit_writes_a_calibrator_that_loads_and_serves_thresholds(corpus, validator, tmp_path, name):
    path = corpus / f"{name}.csv"
    method = METHODS[NAMES.index(name) % len(METHODS)]  # each method on a share of the corpus (all of them: audit above)
    cal = tmp_path / "cal.json"
    res, shown = _calib(["fit", path, "--method", method, "-o", cal])
    what = f"calib fit {name}.csv --method {method}"
    _check(res, shown, what)
    if res.exit_code != 0:
        assert not cal.exists()
        return
    load_calibrator(cal)  # every file calib fit writes must load
    res, shown = _calib(["thresholds", path, "--calibrator", cal, "--objective", "f1", "--objective", "review-band",
                         "--review-precision", "0.9", "--bootstrap", "10", "--format", "json"])
    what = f"calib thresholds {name}.csv --calibrator ({method})"
    _check(res, shown, what)
    if res.exit_code in (0, 1):
        _validate(validator, json.loads(res.stdout), what)


FIT_EDGE_FILES = ["bin_above_one_x6", "mc_sums_off_within_tolerance_x6", "bin_hard_0_1_x6", "ml_hard_0_1_x6", "bin_tiny_probs_x6"]


@pytest.mark.parametrize("name, method", [pytest.param(n, m, marks=[k] if (k := _known(n, f"fit {m}")) else [])
                                          for n in FIT_EDGE_FILES for m in METHODS])
def test_every_method_fits_a_loadable_calibrator_at_the_edges(corpus, tmp_path, name, method):
    """Probabilities at 0/1 or just above 1 (within the accepted tolerance): every file calib fit writes must load."""
    cal = tmp_path / "cal.json"
    res, shown = _calib(["fit", corpus / f"{name}.csv", "--method", method, "-o", cal])
    what = f"calib fit {name}.csv --method {method}"
    _check(res, shown, what)
    if res.exit_code == 0:
        load_calibrator(cal)
        res, shown = _calib(["apply", cal, corpus / f"{name}.csv", "-o", tmp_path / "applied.csv"])
        _check(res, shown, f"calib apply after {what}")
        assert res.exit_code == 0, res.stderr


def test_per_file_json_over_the_corpus_validates(corpus, validator):
    files = [corpus / f"{n}.csv" for n in ("bin_identical_x6", "mc_never_present_x6", "ml_label_always_0_x6",
                                              "top_identical_x6", "bin_two_rows", "mc_huge_k")]
    res, shown = _calib(["audit", *files, "--per-file", "--no-calibration", "--max-ece", "0.1", "--objective", "f1",
                         "--threshold-bootstrap", "10", "--format", "json"])
    _check(res, shown, "calib audit --per-file")
    assert res.exit_code in (0, 1)
    doc = json.loads(res.stdout)
    assert len(doc["reports"]) == len(files)
    _validate(validator, doc, "calib audit --per-file")


def test_config_json_is_json():
    res, shown = _calib(["config", "--format", "json"])
    _check(res, shown, "calib config --format json")
    assert res.exit_code == 0
    json.loads(res.stdout)


def test_threshold_interval_ending_at_flag_nothing_is_written_and_valid(corpus, validator):
    """All scores equal: a replicate's threshold can be inf (flag nothing), written as a null interval end."""
    res, _ = _calib(["thresholds", corpus / "bin_identical.csv", "--objective", "youden", "--bootstrap", "50",
                     "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    ci = doc["results"][0]["recommendations"][0]["threshold_ci"]
    assert ci is not None and ci[-1] is None  # the upper end is inf: flag nothing
    _validate(validator, doc, "thresholds with a [x, null] interval")
    rec = doc["results"][0]["recommendations"][0]
    for bad in ([None, 0.5], [0.5], [0.5, 0.5, 0.5]):
        assert not validator.is_valid({**doc, "results": [{**doc["results"][0], "recommendations": [{**rec, "threshold_ci": bad}]}]})


SUBPROCESS_CASES = [
    ("bin_identical", ["thresholds", "{file}", *ALL_OBJECTIVES, "--bootstrap", "20"]),
    ("mc_hard_0_1_x6", ["audit", "{file}", "--calibrators", ",".join(METHODS), "--objective", "f1", "--binning", "quantile",
                        "--on", "upper", "--max-ece", "0.1"]),
    ("top_identical", ["audit", "{file}", "--objective", "youden", "--max-ece", "0.1", "--plots", "{tmp}"]),
    ("bin_extreme_logits_x6", ["thresholds", "{file}"]),
]


@pytest.mark.parametrize("name, args", [pytest.param(n, a, id=n, marks=[m] if (m := _known(n, a[0])) else [])
                                        for n, a in SUBPROCESS_CASES])
def test_no_warning_text_on_stderr_of_a_real_process(corpus, tmp_path, name, args):
    args = [str(corpus / f"{name}.csv") if a == "{file}" else str(tmp_path / "plots") if a == "{tmp}" else a for a in args]
    proc = subprocess.run([sys.executable, "-m", "calibcli", "--no-config", *args], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg"})
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
