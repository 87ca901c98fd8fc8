"""Property-based tests (hypothesis): merging statistics, and bad input never crashes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibcli.binning import assign_bins, uniform_edges
from calibcli.report import Reliability
from calibcli.stats.bins import BinStats
from cli_helpers import run

confs = st.lists(st.sampled_from([0.0, 1.0, 0.5, 1 / 15, 2 / 15, 0.2, 0.9999]) | st.floats(0.0, 1.0), min_size=1, max_size=60)


@given(confs, st.integers(1, 30), st.data())
@settings(max_examples=200, deadline=None)
def test_merge_of_any_split_equals_whole(conf, n_bins, data):
    conf = np.array(conf)
    hit = np.array(data.draw(st.lists(st.booleans(), min_size=len(conf), max_size=len(conf))))
    cut = data.draw(st.integers(0, len(conf)))
    e = uniform_edges(n_bins)
    whole = Reliability.from_arrays(conf, hit, e)
    merged = Reliability.from_state(BinStats(e).update(conf[:cut], hit[:cut]).merge(BinStats(e).update(conf[cut:], hit[cut:])))
    assert np.array_equal(whole.count, merged.count)
    assert merged.ece() == pytest.approx(whole.ece(), abs=1e-12)
    assert 0.0 <= whole.ece() <= 1.0
    assert whole.count.sum() == len(conf)


@given(confs, st.integers(1, 30))
@settings(max_examples=200, deadline=None)
def test_every_confidence_lands_in_its_bin(conf, n_bins):
    conf = np.array(conf)
    e = uniform_edges(n_bins)
    idx = assign_bins(conf, e)
    lo, hi = e[idx], e[idx + 1]
    assert np.all(((lo < conf) | ((idx == 0) & (conf == 0.0))) & (conf <= hi))


cell = st.sampled_from(["0.5", "0.2", "0.8", "1", "0", "-1", "2.5", "nan", "inf", "", "abc", "a", "b", "c", "1e400", " 0.3 "])


@given(
    st.lists(st.sampled_from(["label", "p_a", "p_b", "logit_a", "y_a", "confidence", "pred_label", "x"]), min_size=1, max_size=5, unique=True),
    st.lists(st.lists(cell, min_size=0, max_size=6), min_size=0, max_size=6),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_csv_gives_a_report_or_a_clean_error(tmp_path_factory, header, rows):
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + ("\n" if rows else ""))
    r = run(["audit", str(path), "--format", "json"])
    assert r.exit_code in (0, 2), r.stderr
    assert "Traceback" not in r.stderr
    if r.exit_code == 2:
        assert r.stdout == "" and r.stderr.startswith("calib: error:")
