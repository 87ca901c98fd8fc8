"""The compiled per-row summary (calibcli.kernels.rows) equals its numpy reference."""

import numpy as np
import pytest

from calibcli.kernels.rows import top_rows, top_rows_numpy


@pytest.mark.parametrize("k", [1, 2, 3, 10, 200])
@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_top_rows_equal_numpy(monkeypatch, n, k):
    rng = np.random.default_rng(n * 1000 + k)
    z = rng.standard_normal((n, k))
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if n > 3 and k > 1:
        p[0] = 1.0 / k  # a full tie: the lowest index wins
        p[1, :] = 0.0
        p[1, k - 1] = p[1, 0] = 0.5  # tie of the first and last
        p[2] = np.where(np.arange(k) == k - 1, 1.0, 0.0)
    y = rng.integers(0, k, n)
    want = top_rows_numpy(p, y)
    monkeypatch.setenv("CALIBCLI_KERNELS", "numba")
    got = top_rows(p, y)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])
    assert np.array_equal(got[2], want[2])
    np.testing.assert_allclose(got[3], want[3], rtol=1e-14, atol=0)
    if n > 3 and k > 1:
        assert got[0][:3].tolist() == [0, 0, k - 1]


def test_numpy_mode_never_compiles(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "numpy")
    p = np.full((300_000, 1), 1.0)
    top, conf, p_true, sq = top_rows(p, np.zeros(300_000, dtype=np.int64))
    assert top.max() == 0 and conf.min() == 1.0 and sq.max() == 1.0


def test_bad_mode_is_an_error(monkeypatch):
    monkeypatch.setenv("CALIBCLI_KERNELS", "fast")
    with pytest.raises(ValueError, match="CALIBCLI_KERNELS"):
        top_rows(np.ones((2, 2)) / 2, np.zeros(2, dtype=np.int64))


def test_cli_rejects_a_bad_kernel_mode(monkeypatch, capsys):
    from calibcli.cli.main import main

    monkeypatch.setenv("CALIBCLI_KERNELS", "fast")
    with pytest.raises(SystemExit) as exc:
        main(["--no-config", "audit", "sample_data/binary.csv"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "CALIBCLI_KERNELS is 'fast'" in err and "Traceback" not in err


def test_engine_reports_the_kernels(monkeypatch, samples):
    import json

    from click.testing import CliRunner

    from calibcli.cli.main import cli

    for mode, want in (("numpy", "numpy"), ("auto", "numpy"), ("numba", "numba")):  # auto: a small file stays on numpy
        monkeypatch.setenv("CALIBCLI_KERNELS", mode)
        res = CliRunner().invoke(cli, ["--no-config", "audit", str(samples / "binary.csv"), "--format", "json", "--no-calibration"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["engine"]["kernels"] == want
