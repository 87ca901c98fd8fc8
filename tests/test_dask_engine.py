"""The Dask engine (--engine dask) against the local engine, on a 2-worker LocalCluster on loopback.

Real files from tests/data/real (and sample_data for multilabel and text labels) are
split into many Parquet parts (several row groups each) or CSV files; every command
must give the local engine's numbers (1e-9 relative), whatever the partitioning.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys

import numpy as np
import pytest

from cli_helpers import run
from conftest import SAMPLES

pytest.importorskip("distributed")

REAL = os.path.join(os.path.dirname(__file__), "data", "real")



@pytest.fixture(scope="module")
def scheduler():
    """One LocalCluster for the module: 2 worker processes, 1 thread each, on 127.0.0.1."""
    from distributed import LocalCluster

    from calibcli.engine.dask import close_clients

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}, silence_logs=50)
    try:
        yield cluster.scheduler_address
    finally:
        close_clients()
        cluster.close()


def _split_parquet(src: str, folder, parts: int, row_group: int) -> list[str]:
    import pyarrow.parquet as pq

    t = pq.read_table(src)
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(parts):
        a, b = i * t.num_rows // parts, (i + 1) * t.num_rows // parts
        path = os.path.join(folder, f"part-{i}.parquet")
        pq.write_table(t.slice(a, b - a), path, row_group_size=row_group)
        out.append(path)
    return out


def _split_csv(src: str, folder, parts: int) -> list[str]:
    with open(src, encoding="utf-8") as fh:
        header, *lines = fh.read().splitlines()
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(parts):
        a, b = i * len(lines) // parts, (i + 1) * len(lines) // parts
        path = os.path.join(folder, f"part-{i}.csv")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join([header, *lines[a:b]]) + "\n")
        out.append(path)
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """shape -> list of part files (in order)."""
    root = tmp_path_factory.mktemp("dask_inputs")
    return {
        "binary": _split_parquet(os.path.join(REAL, "netcal_coco_faster-rcnn-resnet-50_iou0.60", "data.parquet"), root / "binary", 5, 900),
        "multiclass": _split_parquet(os.path.join(REAL, "plambda_cifar10_vgg16", "data.parquet"), root / "multiclass", 7, 600),
        "top_label": _split_parquet(os.path.join(REAL, "hollance_markus93_resnet110_c10", "data.parquet"), root / "top_label", 6, 700),
        "multilabel": _split_csv(os.path.join(SAMPLES, "multilabel.csv"), root / "multilabel", 3),
        "top_label_text": _split_csv(os.path.join(SAMPLES, "top_label.csv"), root / "top_label_text", 4),
    }


def _close(a, b, path="") -> None:
    """Equal JSON values; numbers to 1e-9 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(a, bool):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _json(args) -> dict:
    r = run(args)
    assert r.exit_code in (0, 1), r.stderr
    return json.loads(r.stdout)


def _dask(scheduler) -> list[str]:
    return ["--engine", "dask", "--scheduler", scheduler]


SHAPES = ["binary", "multiclass", "top_label", "multilabel", "top_label_text"]


@pytest.mark.parametrize("shape", SHAPES)
def test_audit_measurement_matches_local(scheduler, inputs, shape):
    args = ["audit", *inputs[shape], "--format", "json", "--no-calibration", "--batch-rows", "1000"]
    local, dask = _json(args), _json([*args, *_dask(scheduler)])
    engine = dask.pop("engine")
    local.pop("engine")
    _close(local, dask)
    assert engine["name"] == "dask" and engine["partitions"] >= len(inputs[shape]) and engine["passes"] >= 2
    assert 0 < engine["bytes_to_client"] < 2_000_000 and engine["workers"] == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_audit_with_calibration_matches_local(scheduler, inputs, shape):
    args = ["audit", *inputs[shape], "--format", "json", "--batch-rows", "1000"]
    local, dask = _json(args), _json([*args, *_dask(scheduler)])
    dask.pop("engine")
    local.pop("engine")
    _close(local, dask)


@pytest.mark.parametrize("shape", ["binary", "multiclass", "multilabel"])
def test_thresholds_match_local(scheduler, inputs, shape):
    args = ["thresholds", *inputs[shape], "--objective", "f1", "--format", "json", "--bootstrap", "20"]
    local, dask = _json(args), _json([*args, *_dask(scheduler)])
    for d in (local, dask):
        d.pop("engine", None)
    _close(local, dask)


def _strip_engine(obj):
    if isinstance(obj, dict):
        return {k: _strip_engine(v) for k, v in obj.items() if k != "engine"}
    if isinstance(obj, list):
        return [_strip_engine(v) for v in obj]
    return obj


@pytest.mark.parametrize("shape,method", [("binary", "platt"), ("multiclass", "temperature"), ("multiclass", "vector"),
                                          ("multilabel", "temperature"), ("multiclass", "histogram"),
                                          ("binary", "isotonic")])
def test_fit_matches_local(scheduler, inputs, tmp_path, shape, method):
    a, b = tmp_path / "local.json", tmp_path / "dask.json"
    base = ["fit", *inputs[shape], "--method", method, "-q", "--batch-rows", "1000"]
    assert run([*base, "-o", a]).exit_code == 0
    r = run([*base, "-o", b, *_dask(scheduler)])
    assert r.exit_code == 0, r.stderr
    local, dask = json.loads(a.read_text()), json.loads(b.read_text())
    assert dask["fitted_on"]["sha256"] == local["fitted_on"]["sha256"] and dask["fitted_on"]["rows"] > 0
    _close(_strip_engine(local), _strip_engine(dask))


def test_fit_of_a_top_label_file_is_the_local_error(scheduler, inputs, tmp_path):
    base = ["fit", *inputs["top_label"], "-q"]
    local, dask = run([*base, "-o", tmp_path / "a.json"]), run([*base, "-o", tmp_path / "b.json", *_dask(scheduler)])
    assert local.exit_code == dask.exit_code == 2 and dask.stderr == local.stderr and "top-label file" in dask.stderr
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("shape", ["binary", "multiclass", "multilabel"])
def test_apply_writes_one_part_per_partition_with_local_values(scheduler, inputs, tmp_path, shape):
    import pyarrow.parquet as pq

    cal = tmp_path / "cal.json"
    assert run(["fit", *inputs[shape], "-o", cal, "-q"]).exit_code == 0
    local, folder = tmp_path / "local.parquet", tmp_path / "calibrated"
    assert run(["apply", cal, *inputs[shape], "-o", local, "-q"]).exit_code == 0
    r = run(["apply", cal, *inputs[shape], "-o", folder, *_dask(scheduler)])
    assert r.exit_code == 0, r.stderr
    parts = sorted(os.listdir(folder))
    assert parts == [f"part-{i:05d}.parquet" for i in range(len(parts))] and len(parts) >= len(inputs[shape])
    assert f"in {len(parts)} Parquet parts" in r.stderr
    expected, got = pq.read_table(local), pq.read_table(folder)
    assert got.schema.names == expected.schema.names
    assert got.equals(expected.cast(got.schema))
    # no staged folder is left next to it; a second run replaces the folder of parts
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
    assert run(["apply", cal, *inputs[shape], "-o", folder, "-q", *_dask(scheduler)]).exit_code == 0
    assert sorted(os.listdir(folder)) == parts


def test_apply_bad_scores_leave_no_folder_and_name_the_first_rows(scheduler, inputs, tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cal = tmp_path / "cal.json"
    assert run(["fit", *inputs["multiclass"], "-o", cal, "-q"]).exit_code == 0
    files = [str(tmp_path / os.path.basename(p)) for p in inputs["multiclass"]]
    for p, q in zip(inputs["multiclass"], files):
        shutil.copy(p, q)
    t = pq.read_table(files[3])
    col = t.column("p_2").to_numpy().copy()
    col[[650, 1200]] = np.nan  # in the second and third row groups of the fourth file
    pq.write_table(t.set_column(t.schema.get_field_index("p_2"), "p_2", pc.cast(col, t.schema.field("p_2").type)), files[3],
                   row_group_size=600)
    folder = tmp_path / "out"
    local = run(["apply", cal, *files, "-o", tmp_path / "local.parquet"])
    dask = run(["apply", cal, *files, "-o", folder, *_dask(scheduler)])
    assert local.exit_code == dask.exit_code == 2
    assert dask.stderr == local.stderr and "row 651, 1201" in dask.stderr
    assert not folder.exists() and [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_input_errors_have_the_local_messages(scheduler, inputs, tmp_path):
    """Problems found in later partitions (a bad label, a NaN score) are reported as the local engine reports them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [str(tmp_path / os.path.basename(p)) for p in inputs["multiclass"]]
    for p, q in zip(inputs["multiclass"], files):
        shutil.copy(p, q)
    t = pq.read_table(files[5])
    labels = t.column("label").to_numpy().copy()
    labels[[10, 900]] = 11
    scores = t.column("p_0").to_numpy().copy()
    scores[1300] = np.inf
    t = t.set_column(0, "label", pa.array(labels)).set_column(1, "p_0", pa.array(scores, type=t.schema.field("p_0").type))
    pq.write_table(t, files[5], row_group_size=600)
    args = ["audit", *files, "--no-calibration"]
    local, dask = run(args), run([*args, *_dask(scheduler)])
    assert local.exit_code == dask.exit_code == 2
    assert dask.stderr == local.stderr
    dropped_local = _json([*args, "--drop-invalid", "--format", "json"])
    dropped_dask = _json([*args, "--drop-invalid", "--format", "json", *_dask(scheduler)])
    dropped_local.pop("engine")
    dropped_dask.pop("engine")
    _close(dropped_local, dropped_dask)


# ------------------------------------------------------------------ partitioning and states
def _audit_dict(source) -> dict:
    from calibcli.audit import build_audit
    from calibcli.render.jsonout import report_dict

    d = report_dict(build_audit(source, 15, "uniform"))
    d.pop("engine", None)
    return d


@pytest.mark.parametrize("shape", ["multiclass", "multilabel"])
def test_partition_count_does_not_change_numbers(scheduler, inputs, shape):
    from calibcli.engine.dask import open_dask_source
    from calibcli.engine.streaming import open_source
    from calibcli.validation.options import EngineOptions, LoadOptions

    local = LoadOptions(batch_rows=333, memory_limit=0)
    with open_source(inputs[shape], local) as src:
        expected = _audit_dict(src)
    opts = LoadOptions(batch_rows=257, engine=EngineOptions("dask", scheduler))
    counts = []
    for partition_rows in (1, 1000, 10**9):
        with open_dask_source(inputs[shape], opts, partition_rows=partition_rows) as src:
            _close(expected, _audit_dict(src))
            counts.append(len(src.partitions))
    if shape == "multiclass":  # Parquet: one partition per row group, per run of row groups, per file
        assert counts[0] > counts[1] > counts[2] == len(inputs[shape])


class _RowKeys:
    """A compliant consumer: a sum of row keys and a count (scalars)."""

    def __init__(self):
        self.n = 0
        self.key_sum = 0

    def update(self, batch):
        self.n += batch.n_rows
        self.key_sum += int(batch.rows.sum())

    def merge(self, other):
        self.n += other.n
        self.key_sum += other.key_sum
        return self


class _KeepsRows(_RowKeys):
    """A consumer that breaks the contract: it keeps an entry per row."""

    def __init__(self):
        super().__init__()
        self.rows = np.empty(0, dtype=np.int64)

    def update(self, batch):
        super().update(batch)
        self.rows = np.concatenate([self.rows, batch.rows])

    def merge(self, other):
        super().merge(other)
        self.rows = np.concatenate([self.rows, other.rows])
        return self


def test_only_partial_states_reach_the_client(scheduler, inputs, tmp_path):
    """What the client gathers does not grow with the rows (the audit's measurement pass, pass 1);
    a consumer keeping rows shows that the check can fail."""
    from calibcli.engine.dask import open_dask_source
    from calibcli.engine.local import feed
    from calibcli.validation.options import EngineOptions, LoadOptions

    doubled = []
    for i in range(2):  # the same rows twice, as other files (a file named twice is read once)
        for p in inputs["multiclass"]:
            q = tmp_path / f"{i}-{os.path.basename(p)}"
            shutil.copy(p, q)
            doubled.append(str(q))
    opts = LoadOptions(engine=EngineOptions("dask", scheduler))
    largest, sent = [], []
    for files in (doubled[: len(doubled) // 2], doubled):
        with open_dask_source(files, opts) as src:
            _audit_dict(src)
            largest.append(max(g.largest_array for g in src.gathered))
            sent.append(src.engine_stats().bytes_to_client)
            keys, kept = _RowKeys(), _KeepsRows()
            assert feed(src, keys, kept) == src.info.n_rows
            n = src.info.n_rows
            assert keys.n == n and keys.key_sum == n * (n - 1) // 2  # global row keys 0..n-1, each once
            assert src.gathered[-1].largest_array == n  # the contract-breaking consumer is seen
    # sized by classes x bins x bootstrap groups (10 x 15 x 128 for the grouped intervals), never by rows
    assert largest[0] == largest[1] < 50_000
    assert sent[1] < 1.5 * sent[0]


def test_run_pass_and_merge_returning_a_new_state(scheduler, inputs):
    """run_pass's state may merge into a new object (PairingFingerprint does); the client's result has every row."""
    from calibcli.engine.dask import open_dask_source
    from calibcli.engine.local import run_pass
    from calibcli.engine.streaming import open_source
    from calibcli.gate.baseline import PairingFingerprint
    from calibcli.validation.options import EngineOptions, LoadOptions

    def fingerprint(src):
        k = len(src.info.classes)
        return run_pass(src, lambda: PairingFingerprint(k, by_id=False), lambda s, b: s.update(b)).finalize()

    with open_source(inputs["multiclass"]) as src:
        expected = fingerprint(src)
    with open_dask_source(inputs["multiclass"], LoadOptions(engine=EngineOptions("dask", scheduler)), partition_rows=1) as src:
        assert fingerprint(src) == expected
        with pytest.raises(RuntimeError, match="feed or run_pass"):
            next(iter(src.batches()))


# ----------------------------------------------------------------------------- usage
def test_cluster_options_without_engine_dask_are_usage_errors(inputs):
    for extra in (["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:1"]):
        r = run(["audit", *inputs["binary"], *extra])
        assert r.exit_code == 2 and "add --engine dask" in r.stderr
    r = run(["audit", *inputs["binary"], "--engine", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert r.exit_code == 2 and "give one of them" in r.stderr


def test_without_dask_engine_dask_says_how_to_install(inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    for args in (["audit", *inputs["binary"]], ["fit", *inputs["binary"], "-o", tmp_path / "c.json"],
                 ["thresholds", *inputs["binary"], "--objective", "f1"],
                 ["apply", tmp_path / "cal.json", *inputs["binary"], "-o", tmp_path / "o"]):
        r = run([*args, "--engine", "dask"])
        assert r.exit_code == 2, (args, r.stderr)
        assert "pip install 'calibcli[dask]'" in r.stderr
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "o").exists()


def test_stdin_and_unreachable_scheduler_are_usage_errors(scheduler, inputs, monkeypatch):
    monkeypatch.setattr("calibcli.engine.dask.CONNECT_TIMEOUT", 1.0)
    with open(os.path.join(SAMPLES, "binary.csv"), "rb") as fh:
        r = run(["audit", "-", *_dask(scheduler)], stdin=fh.read())
    assert r.exit_code == 2 and "standard input cannot be read by Dask workers" in r.stderr
    r = run(["audit", *inputs["binary"], "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 2 and "cannot connect to a Dask scheduler" in r.stderr


@pytest.mark.parametrize("address, says", [
    ("nonsense", "no port after the host"),
    ("http://127.0.0.1:8787", "an http:// address is a web page (such as the Dask dashboard"),
    ("https://dask.example.com/status", "Dask schedulers listen on tcp://HOST:8786, e.g. tcp://dask.example.com:8786"),
    ("ftp://10.0.0.5:8786", "unknown address scheme 'ftp://'"),
    ("tcp://10.0.0.5", "no port after the host"),
    ("tcp://10.0.0.5:99999", "not a number from 1 to 65535"),
    ("tcp://10.0.0.5:8786/", "cannot contain '/'"),
    ("::1:8786", "IPv6 host in brackets"),
])
def test_scheduler_address_form_is_checked_before_connecting(inputs, monkeypatch, address, says):
    import distributed

    def no_connection(*a, **k):
        raise AssertionError("an invalid address must not be connected to")

    monkeypatch.setattr(distributed, "Client", no_connection)
    monkeypatch.setattr("calibcli.engine.dask._probe_scheduler", no_connection)
    r = run(["audit", *inputs["binary"], "--engine", "dask", "--scheduler", address])
    assert r.exit_code == 2, r.stderr
    assert f"--scheduler {address}: " in r.stderr and says in r.stderr and "Traceback" not in r.stderr


def test_valid_scheduler_address_forms_pass_the_check():
    from calibcli.engine.cluster_options import check_scheduler_address

    for address in ("tcp://10.0.0.5:8786", "tls://sched.example.com:8786", "ucx://10.0.0.5:13337", "10.0.0.5:8786",
                    "[::1]:8786", "tcp://[fe80::1]:8786", "inproc://10.0.0.5/1234/1", "ws://h:8786"):
        check_scheduler_address(address)


def test_a_port_that_is_not_a_scheduler_fails_within_the_stated_timeout(scheduler, inputs, monkeypatch):
    import http.server
    import threading

    from distributed import Client

    monkeypatch.setattr("calibcli.engine.dask.CONNECT_TIMEOUT", 0.5)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # accepts TCP but never speaks Dask's protocol: a bare Client would wait forever
        r = run(["audit", *inputs["binary"], "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
        server.server_close()
    assert r.exit_code == 2 and "cannot connect to a Dask scheduler (no answer within 0.5 s)" in r.stderr
    with Client(scheduler, set_as_default=False) as c:
        worker = next(iter(c.scheduler_info(n_workers=-1)["workers"]))
    r = run(["audit", *inputs["binary"], "--engine", "dask", "--scheduler", worker])
    assert r.exit_code == 2 and "is a Dask Worker, not the scheduler" in r.stderr


def test_a_client_that_fails_to_start_is_closed_without_output_at_exit(tmp_path):
    """The half-made Client is closed at once: no 40 s wait and no 'Exception ignored' after the error."""
    import subprocess

    (tmp_path / "p.csv").write_text("label,p_a,p_b\na,0.8,0.2\nb,0.3,0.7\n")
    script = (  # skip the form check and the probe, so that distributed.Client itself fails on the address
        "import calibcli.engine.cluster_options as o, calibcli.engine.dask as d\n"
        "o.check_scheduler_address = d.check_scheduler_address = d._probe_scheduler = lambda *a: None\n"
        "from calibcli.cli.main import main\n"
        "main(['audit', 'p.csv', '--engine', 'dask', '--scheduler', 'nonsense'])\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONWARNINGS": "default"})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("calib: error: --scheduler nonsense: cannot connect to a Dask scheduler"), r.stderr
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_local_cluster_opens_no_dashboard_and_warns_of_no_busy_port(tmp_path):
    """--workers: the scheduler's HTTP port is a free loopback one, so a busy 8787 is no warning."""
    import socket
    import subprocess

    (tmp_path / "p.csv").write_text("label,p_a,p_b\na,0.8,0.2\nb,0.3,0.7\na,0.6,0.4\nb,0.1,0.9\n")
    (tmp_path / "run.py").write_text(
        "if __name__ == '__main__':\n"
        "    import sys\n"
        "    from calibcli.engine.dask import _CLIENTS, get_client\n"
        "    from calibcli.validation.options import EngineOptions\n"
        "    get_client(EngineOptions('dask', workers=1))\n"
        "    (_, cluster), = _CLIENTS.values()\n"
        "    print(cluster.scheduler_spec['options']['dashboard'], cluster.scheduler.http_server is not None)\n"
        "    from calibcli.cli.main import main\n"
        "    main(['audit', 'p.csv', '--engine', 'dask', '--workers', '1'])\n")
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 8787))
        busy.listen()
    except OSError:
        pass  # 8787 is already in use on this machine: the same situation
    try:
        r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        busy.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("False True\n")
    assert "8787" not in r.stderr and "dashboard" not in r.stderr.lower(), r.stderr


# ----------------------------------------------------------------------------- URL inputs
SIG = "X-Amz-Signature=deadbeefcafe0123456789"


@pytest.fixture(scope="module")
def http_parts(inputs, tmp_path_factory):
    """The multiclass parts served by a local HTTP server (ranges; /private/ needs a bearer token)."""
    from remote_servers import FileServer

    root = tmp_path_factory.mktemp("served")
    (root / "mc").mkdir()
    for p in inputs["multiclass"]:
        shutil.copy(p, root / "mc" / os.path.basename(p))
    srv = FileServer(root).start()
    try:
        yield srv
    finally:
        srv.stop()


def _secrets(srv) -> tuple[str, ...]:
    return ("deadbeefcafe0123456789", srv.token)


def _urls(srv, inputs) -> list[str]:
    return [srv.url(f"private/mc/{os.path.basename(p)}") + f"?{SIG}" for p in inputs["multiclass"]]


def _without_files(report: dict) -> dict:
    report = dict(report)
    report.pop("engine", None)
    report["input"] = {k: v for k, v in report["input"].items() if k != "files"}
    return report


def test_http_urls_on_dask_give_the_local_numbers_and_hide_credentials(scheduler, inputs, http_parts, tmp_path):
    urls = _urls(http_parts, inputs)
    token = ["--storage-option", f"headers.Authorization=Bearer {http_parts.token}"]
    out = tmp_path / "r.json"
    local = _json(["audit", *inputs["multiclass"], "--format", "json"])
    r = run(["audit", *urls, *token, "--format", "json", "--json-out", out, *_dask(scheduler)])
    assert r.exit_code == 0, r.stderr
    remote = json.loads(r.stdout)
    assert remote["engine"]["name"] == "dask" and remote["engine"]["partitions"] == len(urls)
    _close(_without_files(local), _without_files(remote))
    assert remote["input"]["files"][0].endswith("/private/mc/part-0.parquet?X-Amz-Signature=***")
    for s in _secrets(http_parts):
        assert s not in r.stdout + r.stderr + out.read_text()
    # fit over the same URLs: the same calibrator and fingerprint as the local files
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(["fit", *inputs["multiclass"], "-q", "-o", a]).exit_code == 0
    r = run(["fit", *urls, *token, "-q", "-o", b, *_dask(scheduler)])
    assert r.exit_code == 0, r.stderr
    fa, fb = json.loads(a.read_text()), json.loads(b.read_text())
    assert fb["fitted_on"]["sha256"] == fa["fitted_on"]["sha256"]
    _close(fa["calibrator"], fb["calibrator"])
    for s in _secrets(http_parts):
        assert s not in r.stderr + b.read_text()
    # without the token: exit 2 with the local engine's message, no secret
    local_denied, dask_denied = run(["audit", *urls]), run(["audit", *urls, *_dask(scheduler)])
    assert local_denied.exit_code == dask_denied.exit_code == 2 and "permission denied" in dask_denied.stderr
    assert dask_denied.stderr == local_denied.stderr and SIG.split("=")[1] not in dask_denied.stderr


def test_http_parquet_row_groups_are_partitions_read_in_ranges_on_the_workers(scheduler, inputs, http_parts):
    """One partition per row group: each worker reads the footer and its row groups by range requests;
    the partitions and the pass setup (what travels to the workers and shows in their logs) hide the secrets."""
    import pyarrow.parquet as pq

    from calibcli.engine.dask import open_dask_source
    from calibcli.engine.streaming import open_source
    from calibcli.validation.options import EngineOptions, LoadOptions

    with open_source(inputs["multiclass"], LoadOptions(memory_limit=0)) as src:
        expected = _audit_dict(src)
    expected["input"].pop("files")
    storage = (("headers.Authorization", f"Bearer {http_parts.token}"),)
    opts = LoadOptions(engine=EngineOptions("dask", scheduler, storage_options=storage))
    groups = sum(pq.ParquetFile(p).metadata.num_row_groups for p in inputs["multiclass"])
    before = len(http_parts.log)
    with open_dask_source(_urls(http_parts, inputs), opts, partition_rows=1) as src:
        assert len(src.partitions) == groups
        got = _audit_dict(src)
        got["input"].pop("files")
        _close(expected, got)
        shown = repr(src.partitions) + repr(src.setup) + str(src.info)
        for s in _secrets(http_parts):
            assert s not in shown
    gets = [e for e in http_parts.log[before:] if e.method == "GET" and e.path.endswith(SIG)]
    whole = [e.path for e in gets if e.range is None]
    # the client sniffs each file's format once (one streamed GET it stops reading); the workers only read ranges
    assert sorted(whole) == sorted(set(whole)) and len(whole) <= len(inputs["multiclass"])
    assert sum(e.status == 206 for e in gets) >= 2 * groups


# ------------------------------------------------------------------ batches kept on the workers
@pytest.mark.parametrize("shape", ["multiclass", "top_label_text"])
def test_batches_kept_on_workers_within_the_memory_limit(scheduler, inputs, shape):
    """Pass 1 keeps each partition's decoded batches on its worker while they fit the partition's share of
    --memory-limit; later passes feed them (text labels recoded into the merged key table) instead of reading.
    All kept, none kept, or some kept: the local engine's numbers."""
    from calibcli.engine.dask import open_dask_source
    from calibcli.engine.streaming import open_source
    from calibcli.validation.options import EngineOptions, LoadOptions

    with open_source(inputs[shape], LoadOptions(memory_limit=0)) as src:
        expected = _audit_dict(src)
    engine = EngineOptions("dask", scheduler)
    with open_dask_source(inputs[shape], LoadOptions(engine=engine), partition_rows=1000) as src:
        n_parts, n_rows = len(src.partitions), src.info.n_rows
        _close(expected, _audit_dict(src))
        stats = src.engine_stats()
        assert src.kept_partitions == n_parts and stats.cached and stats.passes >= 2
        assert stats.rows_read == sum(src.rows_per_file)  # every row decoded once (pass 1)
        assert stats.to_dict()["reread"] is False
    with open_dask_source(inputs[shape], LoadOptions(engine=engine, memory_limit=0), partition_rows=1000) as src:
        _close(expected, _audit_dict(src))
        stats = src.engine_stats()
        assert src.kept_partitions == 0 and not stats.cached and stats.rows_read == stats.passes * sum(src.rows_per_file)
    if shape == "multiclass":  # partitions of 1200 and of about 228 rows: a share between their sizes keeps only the small
        share = 44 * 600  # 10 float32 scores and an int32 label a row: 1200 rows take 52,800 bytes
        limit = share * n_parts // 2  # two workers
        with open_dask_source(inputs[shape], LoadOptions(engine=engine, memory_limit=limit), partition_rows=1000) as src:
            _close(expected, _audit_dict(src))
            assert 0 < src.kept_partitions < n_parts and not src.engine_stats().cached
