"""The compiled score-kind evidence (calibcli.kernels.evidence) equals the scan's numpy code."""

import numpy as np
import pytest

from calibcli.kernels.evidence import MAX_PAIRWISE, score_evidence
from calibcli.validation.scores import pairwise_row_sums


@pytest.mark.parametrize("m", [1, 2, 7, 8, 9, 15, 16, 17, 100, 128])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_evidence_equals_numpy(m, dtype):
    rng = np.random.default_rng(m)
    s = (rng.standard_normal((777, m)) * 5).astype(dtype)
    s[3] = 1.0 / m  # a row that sums to 1 (to rounding)
    ok, lo, hi, dev = score_evidence(s, True, force=True)
    assert ok
    assert lo == float(s.min()) and hi == float(s.max())
    assert dev == float(np.max(np.abs(pairwise_row_sums([s[:, j] for j in range(m)]) - 1.0)))  # bit for bit
    ok, lo2, hi2, dev2 = score_evidence(s, False, force=True)
    assert (lo2, hi2, dev2) == (lo, hi, -np.inf)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_is_reported(bad):
    s = np.ones((50, 3))
    s[40, 2] = bad
    assert score_evidence(s, True, force=True)[0] is False


def test_not_applicable_returns_none(monkeypatch):
    assert score_evidence(np.ones((5, MAX_PAIRWISE + 1)), True, force=True) is None
    assert score_evidence(np.ones((0, 3)), True, force=True) is None
    assert score_evidence(np.ones((5, 3), dtype=np.int64), True, force=True) is None
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    assert score_evidence(np.ones((300_000, 3)), True) is None


def test_scan_evidence_same_with_and_without_kernel(monkeypatch, tmp_path):
    """A file's score-kind evidence (JSON) is the same whichever code computed it."""
    import json

    from click.testing import CliRunner

    from calibcli.cli.main import cli

    rng = np.random.default_rng(5)
    n, k = 3000, 9
    z = rng.standard_normal((n, k)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    path = tmp_path / "p.csv"
    cols = ",".join(f"p_{j}" for j in range(k))
    rows = "\n".join(f"{rng.integers(0, k)}," + ",".join(repr(float(v)) for v in r) for r in p)
    path.write_text(f"label,{cols}\n{rows}\n")
    out = {}
    for mode in ("numpy", "numba"):
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        res = CliRunner().invoke(cli, ["--no-config", "audit", str(path), "--format", "json", "--no-calibration"])
        assert res.exit_code == 0, res.output
        out[mode] = json.loads(res.output)
    assert out["numpy"]["input"] == out["numba"]["input"]
    assert out["numpy"]["metrics"] == out["numba"]["metrics"]


def test_extremes_keep_the_first_of_equal_values():
    """Ties (0.0 and -0.0) keep the value met first in row order, per row and across rows."""
    import math

    s = np.array([[0.5, 0.0, -0.0], [-0.0, 0.0, 0.25]])
    ok, lo, hi, _ = score_evidence(s - 0.5 * (s > 0.4), False, force=True)  # row 0: 0.0, 0.0, -0.0
    assert ok and lo == 0.0 and math.copysign(1.0, lo) == 1.0
    ok, lo, hi, _ = score_evidence(np.array([[-0.0, 0.0], [0.0, -0.0]]), False, force=True)
    assert ok and math.copysign(1.0, lo) == -1.0 and math.copysign(1.0, hi) == -1.0
