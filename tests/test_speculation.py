"""The audit's first pass fed during the scan (calibcli.engine.speculation): kept only when the scan decides what the
first batch implied, and then the same report, bit for bit, as a separate pass; dropped (the same report, one more
pass) or the same error otherwise; no worker thread outlives the opening."""

import json
import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from calibcli.cli.main import cli
from calibcli.engine.local import feed
from calibcli.engine.streaming import open_source
from calibcli.errors import InputError
from calibcli.pipeline import AuditSettings, first_pass_plan, run_audit
from calibcli.render.jsonout import report_dict
from calibcli.validation.options import EngineOptions, LoadOptions


def _logits(n=3000, k=4, seed=0, labels=None):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2.0
    y = rng.integers(0, k, n) if labels is None else labels
    df = pd.DataFrame({f"logit_{c}": z[:, j].astype(np.float32) for j, c in enumerate("abcd"[:k])})
    df.insert(0, "label", np.array(list("abcd"))[y])
    return df


def _write(df, tmp_path, name="p.parquet"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        df.to_parquet(path, row_group_size=1000)
    else:
        df.to_csv(path, index=False)
    return str(path)


def _audit(path, settings, speculate, batch_rows=500, threads=2, **load):
    opts = LoadOptions(batch_rows=batch_rows, engine=EngineOptions(threads=threads), **load)
    s = replace(settings, load=opts)
    with open_source([path], opts, first_pass=first_pass_plan(s) if speculate else None) as src:
        report = run_audit(src, s)
    d = report_dict(report)
    return d.pop("engine"), d


def _pair(path, settings=AuditSettings(), **kw):
    (e0, plain), (e1, fused) = _audit(path, settings, False, **kw), _audit(path, settings, True, **kw)
    assert json.dumps(fused, sort_keys=True) == json.dumps(plain, sort_keys=True)  # bit for bit
    return e0, e1


@pytest.mark.parametrize("calibrate", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_kept_same_report_one_pass_fewer(tmp_path, calibrate, threads):
    path = _write(_logits(), tmp_path)
    e0, e1 = _pair(path, AuditSettings(calibrate=calibrate, statistics=True), threads=threads)
    assert e1["first_pass_in_scan"] and not e0["first_pass_in_scan"]
    assert e1["passes"] == e0["passes"] - 1


def test_batch_sizes_give_the_same_numbers(tmp_path):
    path = _write(_logits(n=2001), tmp_path)
    ref = _audit(path, AuditSettings(), True, batch_rows=5000)[1]
    for b in (1, 7, 333):
        engine, got = _audit(path, AuditSettings(), True, batch_rows=b)
        assert engine["first_pass_in_scan"] == (b > 1)  # one row has one label: the scan decides the classes
        _close(got, ref)


def _close(a, b, path=""):
    """Equal structure and text; numbers equal to 1e-9 relative (the partitioning law)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), path
    else:
        assert a == b, path


def test_a_class_first_seen_late_is_kept(tmp_path):
    y = np.zeros(3000, dtype=int)
    y[::2] = 1
    y[2500:] = np.arange(500) % 4  # classes c and d appear in the last batches only
    path = _write(_logits(labels=y), tmp_path)
    e0, e1 = _pair(path, AuditSettings(calibrate=False))
    assert e1["first_pass_in_scan"]


def test_rows_unknown_before_the_scan_drop_calibration_not_measurement(tmp_path):
    path = _write(_logits(), tmp_path, "p.csv")  # CSV: rows are counted by the scan; the calibration's sample needs them
    assert not _pair(path, AuditSettings())[1]["first_pass_in_scan"]
    assert _pair(path, AuditSettings(calibrate=False))[1]["first_pass_in_scan"]


def test_labels_sorted_binary_is_decided_by_the_scan(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.uniform(size=3000)
    df = pd.DataFrame({"label": np.sort(rng.integers(0, 2, 3000)), "p_1": p})  # the first batch holds label 0 only
    path = _write(df, tmp_path)
    assert not _pair(path, AuditSettings(calibrate=False))[1]["first_pass_in_scan"]


def test_score_kind_decided_by_later_rows(tmp_path):
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), 3000)
    p[2600:] = rng.normal(size=(400, 3)) * 3  # later rows are logits: the file is logits
    cols = ("s_a", "s_b", "s_c")
    df = pd.DataFrame({"label": np.array(cols)[rng.integers(0, 3, 3000)], "s_a": p[:, 0], "s_b": p[:, 1], "s_c": p[:, 2]})
    path = _write(df, tmp_path)
    e0, e1 = _pair(path, AuditSettings(calibrate=False), score_cols=cols)
    assert not e1["first_pass_in_scan"]


def _error(path, speculate, **load):
    with pytest.raises(InputError) as got:
        _audit(path, AuditSettings(), speculate, **load)
    return str(got.value)


@pytest.mark.parametrize("bad", ["label", "nan"])
def test_bad_rows_later_same_error_and_no_thread_left(tmp_path, bad):
    df = _logits()
    if bad == "label":
        df.loc[2700, "label"] = "zebra"
    else:
        df.loc[2700, "logit_b"] = np.nan
    path = _write(df, tmp_path)
    before = {t.name for t in threading.enumerate()}
    assert _error(path, True) == _error(path, False)
    left = {t.name for t in threading.enumerate()} - before
    assert not [n for n in left if n.startswith("calib-")]
    e0, e1 = _pair(path, AuditSettings(), drop_invalid=True)  # dropping rows the first batch did not: a pass of its own
    assert not e1["first_pass_in_scan"]


def test_only_pass_keeps_no_batches(tmp_path):
    path = _write(_logits(), tmp_path)
    e0, e1 = _pair(path, AuditSettings(calibrate=False))
    assert e1["passes"] == 1 and not e1["cached"] and not e1["reread"]
    assert e0["cached"]


def test_first_feed_of_other_consumers_runs_its_own_pass(tmp_path):
    path = _write(_logits(), tmp_path)
    opts = LoadOptions(batch_rows=500)
    s = AuditSettings(load=opts, calibrate=False)

    class Count:
        n = 0

        def update(self, batch):
            self.n += batch.n_rows

        def merge(self, other):
            self.n += other.n
            return self

    with open_source([path], opts, first_pass=first_pass_plan(s)) as src:
        c = Count()
        assert feed(src, c) == 3000 and c.n == 3000  # not the captured consumers: a real pass
        assert src.engine_stats().passes == 2 and not src.engine_stats().first_pass_in_scan


def test_cli_reports_it(tmp_path):
    path = _write(_logits(), tmp_path)
    out = tmp_path / "a.json"
    r = CliRunner().invoke(cli, ["audit", path, "--batch-rows", "700", "--json-out", str(out)])
    assert r.exit_code == 0, r.output
    engine = json.loads(out.read_text())["reports"][0]["engine"] if "reports" in json.loads(out.read_text()) else \
        json.loads(out.read_text())["engine"]
    assert engine["first_pass_in_scan"] is True


def test_fit_and_thresholds_ride_the_scan_with_the_same_results(tmp_path):
    """``calib fit`` and ``calib thresholds`` hand their first pass to the scan too; the same calibrator and
    thresholds as a source opened without it."""
    from calibcli.calibrators.fit_all import fit_all_rows
    from calibcli.thresholds import ThresholdSpec, recommend_source

    path = _write(_logits(), tmp_path)
    opts = LoadOptions(batch_rows=500)

    def fit(src):
        return fit_all_rows(src, "temperature", False, 15, 0, fingerprint=True)

    with open_source([path], opts) as src:
        plain = fit(src)
    with open_source([path], opts, first_pass=fit) as src:
        fused = fit(src)
        assert src.engine_stats().first_pass_in_scan
    assert repr(fused.calibrator) == repr(plain.calibrator)  # the fitted parameters, bit for bit
    assert json.dumps(fused.info, sort_keys=True, default=str) == json.dumps(plain.info, sort_keys=True, default=str)

    spec = ThresholdSpec(objectives=("f1",))

    def recommend(src):
        return recommend_source(src, spec, None, None)

    with open_source([path], opts) as src:
        plain_t = recommend(src)
    with open_source([path], opts, first_pass=recommend) as src:
        fused_t = recommend(src)
        in_scan = src.engine_stats().first_pass_in_scan
    assert in_scan
    assert repr(fused_t) == repr(plain_t)


def test_cli_fit_reports_it(tmp_path):
    path = _write(_logits(), tmp_path)
    out = tmp_path / "cal.json"
    r = CliRunner().invoke(cli, ["fit", path, "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert '"first_pass_in_scan": true' in out.read_text()
