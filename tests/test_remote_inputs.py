"""Inputs from URLs and directories of parts: a local HTTP server (with and without range
requests), file:// URLs, S3 through moto's server on loopback (when moto[server] and s3fs are
installed: ``make test-remote``), and credentials that never appear in any output."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from calibcli.sources import remote
from calibcli.sources.files import open_input
from calibcli.sources.paths import expand_inputs
from calibcli.sources.remote import RemoteURL, fs_kwargs, redact, scrub
from tests.cli_helpers import run
from tests.conftest import SAMPLES
from tests.remote_servers import FileServer, free_port

SIG = "X-Amz-Signature=deadbeefcafe0123456789"
SECRETS = ("deadbeefcafe0123456789", "hunter2pass", "s3cr3t-token-value", "moto-secret-do-not-print-0000")


def _audit(*args) -> dict:
    r = run(["audit", *map(str, args), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def _numbers(report: dict) -> dict:
    """Everything computed from the rows (the file names and the engine's read statistics aside)."""
    out = {k: v for k, v in report.items() if k not in ("input", "engine")}
    out["input"] = {k: v for k, v in report["input"].items() if k != "files"}
    return out


def _close(a, b, rel: float = 1e-9) -> bool:
    """Equal structures, floats within ``rel`` (other splits of the rows into batches sum in another order)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
    return a == b


def _no_secret(text: str) -> None:
    for s in SECRETS:
        assert s not in text


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder of prediction files: the samples, a gzipped CSV, a Parquet file of many small row
    groups, and a directory of Parquet parts of it (with the _SUCCESS and .crc files Spark writes)."""
    root = tmp_path_factory.mktemp("served")
    for name in ("multiclass_probs.csv", "multiclass_logits.parquet", "binary.csv", "multilabel.csv"):
        shutil.copy(SAMPLES / name, root / name)
    (root / "binary.csv.gz").write_bytes(gzip.compress((SAMPLES / "binary.csv").read_bytes()))
    table = pq.read_table(SAMPLES / "multiclass_logits.parquet")
    pq.write_table(table, root / "groups.parquet", row_group_size=100)
    parts = root / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 700)):
        pq.write_table(table.slice(start, 700), parts / f"part-{i:05d}.parquet")
    (parts / "_SUCCESS").write_bytes(b"")
    (parts / ".part-00000.parquet.crc").write_bytes(b"\x00crc")
    csv_parts = root / "csv_parts"
    csv_parts.mkdir()
    probs = pcsv.read_csv(SAMPLES / "multiclass_probs.csv")
    for i, start in enumerate(range(0, probs.num_rows, 1000)):
        pcsv.write_csv(probs.slice(start, 1000), csv_parts / f"part-{i}.csv")
    return root


@pytest.fixture(scope="module")
def http(served):
    srv = FileServer(served).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http_no_ranges(served):
    srv = FileServer(served, ranges=False).start()
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------------- HTTP
@pytest.mark.parametrize("name", ["multiclass_probs.csv", "multiclass_logits.parquet", "binary.csv.gz",
                                  "groups.parquet", "multilabel.csv"])
def test_http_input_gives_the_local_numbers(http, served, name):
    local = _audit(served / name)
    url = _audit(http.url(name))
    assert _numbers(url) == _numbers(local)
    assert url["input"]["files"] == [http.url(name)]


def test_parquet_over_http_is_read_in_ranges_not_whole(http, served, monkeypatch):
    monkeypatch.setattr(remote, "REMOTE_BLOCK", 4096)
    size = (served / "groups.parquet").stat().st_size
    http.log.clear()
    assert _numbers(_audit(http.url("groups.parquet"))) == _numbers(_audit(served / "groups.parquet"))
    ranged = [e for e in http.log if e.method == "GET" and e.range]
    streamed = [e for e in http.log if e.method == "GET" and not e.range]
    assert len(ranged) > 20 and all(e.status == 206 for e in ranged)
    assert max(e.sent for e in ranged) < size / 2  # footer and column chunks, never the whole file
    assert len(streamed) == 1  # the format probe: a streamed GET closed after the first 64 KiB


def test_csv_over_http_is_one_streamed_get_per_read(http):
    http.log.clear()
    _audit(http.url("multiclass_probs.csv"), "--memory-limit", "0")  # every pass reads the file again
    gets = [e for e in http.log if e.method == "GET" and "multiclass_probs" in e.path]
    assert gets and all(e.range is None for e in gets[1:])  # after the first bytes: plain streamed GETs, no cache of the whole file


def test_server_without_range_requests(http_no_ranges, served):
    """Parquet needs seeking: without range support it is copied to a temporary file; CSV streams."""
    for name in ("groups.parquet", "multiclass_probs.csv"):
        assert _numbers(_audit(http_no_ranges.url(name))) == _numbers(_audit(served / name))


def test_http_errors_exit_2_naming_the_url(http):
    cases = [(http.url("missing.csv"), "no such file"),
             (http.url("forbidden/x.csv"), "permission denied"),
             (f"http://127.0.0.1:{free_port()}/x.csv", "cannot open the URL")]
    for url, why in cases:
        r = run(["audit", f"{url}?{SIG}"])
        assert r.exit_code == 2, r.stderr
        assert redact(f"{url}?{SIG}") in r.stderr and why in r.stderr
        assert "Traceback" not in r.stderr
        _no_secret(r.stdout + r.stderr)


def test_credentials_never_shown(http, served, tmp_path):
    """User info, signed query values and storage option values stay out of stdout, stderr and reports."""
    url = http.url("private/binary.csv").replace("http://", "http://alice:hunter2pass@") + f"?{SIG}"
    token = ["--storage-option", f"headers.Authorization=Bearer {http.token}"]
    denied = run(["audit", url])
    assert denied.exit_code == 2 and "permission denied" in denied.stderr
    _no_secret(denied.stdout + denied.stderr)
    url = http.url("private/binary.csv") + f"?{SIG}"  # aiohttp refuses user info with an Authorization header
    out = tmp_path / "r.json"
    ok = run(["audit", url, *token, "--json-out", out, "--format", "json", "--md-out", tmp_path / "r.md"])
    assert ok.exit_code == 0, ok.stderr
    _no_secret(ok.stdout + ok.stderr + out.read_text() + (tmp_path / "r.md").read_text())
    files = json.loads(out.read_text())["input"]["files"]
    assert files == [redact(url)] and files[0].endswith("/private/binary.csv?X-Amz-Signature=***")
    assert _numbers(json.loads(ok.stdout)) == _numbers(_audit(served / "binary.csv"))
    bad = run(["audit", http.url("private/nope.csv"), *token, "--label-col", "nope"])
    _no_secret(bad.stdout + bad.stderr)
    for cmd in (["fit", url, *token, "-o", tmp_path / "cal.json"], ["thresholds", url, *token, "--format", "json"]):
        r = run(cmd)
        assert r.exit_code == 0, r.stderr
        _no_secret(r.stdout + r.stderr + "".join(p.read_text() for p in tmp_path.glob("*.json")))


def test_redact_and_scrub():
    assert redact("https://u:p@h:8/a/b.csv?sig=1&sv=2&se=3#frag") == "https://***@h:8/a/b.csv?sig=***&sv=***&se=***"
    assert redact("s3://bucket/a b/x.parquet") == "s3://bucket/a b/x.parquet"
    assert redact("runs/*.csv") == "runs/*.csv" and redact("in[1]?.csv") == "in[1]?.csv"
    assert redact("https://h/x.csv?token") == "https://h/x.csv?***"
    msg = "failed: GET https://h/x?sig=ABCDEFGH%2B1 with key AKIA12345678 (Bearer tok-123456789)"
    got = scrub(msg, "https://h/x?sig=ABCDEFGH%2B1", [("key", "AKIA12345678"), ("headers.Authorization", "Bearer tok-123456789")])
    assert "ABCDEFGH" not in got and "AKIA12345678" not in got and "tok-123456789" not in got
    r = RemoteURL("s3://b/k.csv?x=SECRETVALUE", [("secret", "SECRETVALUE2")])
    assert str(r) == "s3://b/k.csv?x=***" and "SECRET" not in repr(r) and "SECRET" not in f"{r}"
    assert isinstance(str(r), RemoteURL) and str(r).url == r.url  # str() of an input name keeps the real URL
    assert pickle.loads(pickle.dumps(r)).storage_options == (("secret", "SECRETVALUE2"),)
    assert fs_kwargs([("anon", "True"), ("a.b.c", "1")]) == {"anon": True, "a": {"b": {"c": "1"}}}


def test_input_file_pickles_and_reads_in_another_process_shape(http, served):
    """A worker gets (url, storage options) and opens the file itself: nothing open is captured."""
    f = open_input(http.url("groups.parquet"))
    assert f.column_names()[0] == pq.read_schema(served / "groups.parquet").names[0]
    g = pickle.loads(pickle.dumps(f))
    assert g.remote.url == http.url("groups.parquet")
    rows = sum(b.num_rows for b in g.record_batches(None, 128))
    assert rows == pq.read_metadata(served / "groups.parquet").num_rows
    assert g.estimated_rows() == rows


def test_missing_package_is_exit_2_with_the_pip_command(monkeypatch):
    import importlib

    loaded = importlib.import_module("fsspec.registry")._registry  # (fsspec.registry is also a mapping's name)
    for scheme, module in (("s3", "s3fs"), ("gs", "gcsfs"), ("az", "adlfs")):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
        for protocol in ("s3", "gcs", "az", "abfs"):  # and fsspec has no class loaded earlier in the session
            monkeypatch.delitem(loaded, protocol, raising=False)
        r = run(["audit", f"{scheme}://bucket/preds/*.parquet"])
        assert r.exit_code == 2, r.stderr
        assert f"pip install {module}" in r.stderr and "Traceback" not in r.stderr


def test_unknown_scheme_and_url_outputs(tmp_path, monkeypatch):
    r = run(["audit", "ftp://host/x.csv"])
    assert r.exit_code == 2 and "does not read ftp://" in r.stderr
    monkeypatch.chdir(tmp_path)
    for option in ("--json-out", "--md-out"):
        r = run(["audit", SAMPLES / "binary.csv", option, f"s3://bucket/out.json?{SIG}"])
        assert r.exit_code == 2 and "local files, not to URLs" in r.stderr
        _no_secret(r.stderr)
    assert list(tmp_path.iterdir()) == []  # no folder named s3: was made


# ------------------------------------------------------------------- file:// and directories
def test_file_url_and_directories_of_parts(served):
    whole = _numbers(_audit(served / "multiclass_logits.parquet"))
    assert _numbers(_audit((served / "multiclass_logits.parquet").as_uri())) == whole
    parts = _audit(served / "parts")
    assert _close(_numbers(parts), whole)
    assert [p.rsplit("/", 1)[-1] for p in parts["input"]["files"]] == ["part-00000.parquet", "part-00001.parquet",
                                                                       "part-00002.parquet", "part-00003.parquet", "part-00004.parquet"]
    assert _numbers(_audit((served / "parts").as_uri())) == _numbers(parts)
    assert _close(_numbers(_audit(served / "csv_parts")), _numbers(_audit(served / "multiclass_probs.csv")))


def test_empty_directory_is_exit_2(tmp_path):
    (tmp_path / "_SUCCESS").write_bytes(b"")
    r = run(["audit", tmp_path])
    assert r.exit_code == 2 and "holds no data files" in r.stderr


def test_expand_inputs_keeps_remote_urls_once(http):
    url = http.url("binary.csv")
    got = expand_inputs([url, url, "-"])
    assert got == [url, "-"] and isinstance(got[0], RemoteURL)
    assert expand_inputs(got) == got  # already expanded: kept as they are


# ----------------------------------------------------------------------------------------- S3
@pytest.fixture(scope="module")
def s3(served):
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")  # moto[server]: installed by `make test-remote`
    from tests.remote_servers import start_s3

    srv = start_s3()
    client = srv.client()
    client.create_bucket(Bucket="preds")
    for path in sorted(served.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), "preds", f"runs/{path.relative_to(served).as_posix()}")
    yield srv
    srv.stop()


def test_s3_gives_the_local_numbers(s3, served):
    opts = [a for o in s3.options for a in ("--storage-option", o)]
    for name in ("multiclass_logits.parquet", "multiclass_probs.csv", "binary.csv.gz"):
        r = run(["audit", f"s3://preds/runs/{name}", *opts, "--format", "json"])
        assert r.exit_code == 0, r.stderr
        assert _numbers(json.loads(r.stdout)) == _numbers(_audit(served / name))
        _no_secret(r.stdout + r.stderr)


def test_s3_glob_and_directory_of_parts(s3, served):
    opts = [a for o in s3.options for a in ("--storage-option", o)]
    whole = _numbers(_audit(served / "parts"))  # the same files read locally: the same numbers exactly
    for source in ("s3://preds/runs/parts/*.parquet", "s3://preds/runs/parts", "s3://preds/runs/parts/"):
        r = run(["audit", source, *opts, "--format", "json"])
        assert r.exit_code == 0, r.stderr
        report = json.loads(r.stdout)
        assert _numbers(report) == whole and len(report["input"]["files"]) == 5


def test_s3_errors(s3):
    opts = [a for o in s3.options for a in ("--storage-option", o)]
    for url, why in (("s3://preds/runs/missing.parquet", "no such file"), ("s3://preds/nothing/*.csv", "matches no file"),
                     ("s3://no-such-bucket/x.csv", "no such bucket")):
        r = run(["audit", url, *opts])
        assert r.exit_code == 2, r.stderr
        assert url in r.stderr and why in r.stderr and "Traceback" not in r.stderr
        _no_secret(r.stdout + r.stderr)


# ------------------------------------------------------------ storage options: types, names, masking
def test_a_mapping_option_given_flat_is_exit_2_naming_nested_keys(http):
    for opt in ("headers={}", "headers=Bearer x", "client_kwargs={}"):
        r = run(["audit", http.url("binary.csv"), "--storage-option", opt])
        assert r.exit_code == 2, r.stderr
        key = opt.partition("=")[0]
        assert f"'{key}' takes a mapping, given as nested keys" in r.stderr and f"--storage-option {key}." in r.stderr
        assert "AttributeError" not in r.stderr and "Traceback" not in r.stderr


def test_an_option_http_does_not_take_is_exit_2_naming_it(http):
    for key in ("anon", "endpoint_url", "region"):
        r = run(["audit", http.url("binary.csv"), "--storage-option", f"{key}=true"])
        assert r.exit_code == 2, r.stderr
        assert f"'{key}' is not an option of the http:// filesystem" in r.stderr
        assert "headers.NAME" in r.stderr and "HTTPFileSystem" in r.stderr and "unexpected keyword" not in r.stderr
    ok = run(["audit", http.url("binary.csv"), "--storage-option", "ssl=false", "--storage-option",
              "headers.X-Trace=1", "--storage-option", "client_kwargs.trust_env=false", "--format", "json"])
    assert ok.exit_code == 0, ok.stderr  # options the HTTP filesystem and aiohttp take still pass


def test_only_secret_option_values_are_masked():
    url = "http://127.0.0.1:18765/b.csv"
    msg = f"cannot reach {url} via http://127.0.0.1:1 with Bearer tok-123456789 and AKIA12345678"
    opts = [("endpoint_url", "http://127.0.0.1:1"), ("anon", "false"), ("region", "127"),
            ("headers.Authorization", "Bearer tok-123456789"), ("Key", "AKIA12345678")]
    got = scrub(msg, url, opts)
    assert got == f"cannot reach {url} via http://127.0.0.1:1 with *** and ***"
    for key in ("secret", "token", "account_key", "sas_token", "password", "passwd", "sig", "signature",
                "credentials", "auth", "session_token", "cookies.x", "headers.X-Anything", "SECRET_ACCESS"):
        assert scrub("a VALUE-12345678 b", "", [(key, "VALUE-12345678")]) == "a *** b", key
    # a URL-valued option that is not a secret keeps its host but not its user info or query
    got = scrub("via https://u:pw-99887766@proxy:3128/?k=q-55443322", "", [("proxy", "https://u:pw-99887766@proxy:3128/?k=q-55443322")])
    assert "pw-99887766" not in got and "q-55443322" not in got and "proxy:3128" in got


def test_a_non_secret_option_value_is_not_masked_inside_the_input_url(http):
    """--storage-option endpoint_url=http://127.0.0.1:1 once turned the input http://127.0.0.1:18765/b.csv into
    ***8765/b.csv: here the value (the server itself as the proxy) is a prefix of the input URL."""
    url = http.url("missing.csv")
    r = run(["audit", url, "--storage-option", f"proxy={http.base}"])
    assert r.exit_code == 2, r.stderr
    assert f"{url}: " in r.stderr and "***" not in r.stderr


def _memory_bucket(monkeypatch, files: dict[str, bytes]):
    """s3:// URLs served from fsspec's in-memory filesystem (listing without an S3 server)."""
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    for name, data in files.items():
        fs.pipe(f"/bucket/{name}", data)
    monkeypatch.setattr(remote, "filesystem", lambda url, storage_options=(): (fs, "/" + url.split("://", 1)[1]))
    return fs


def test_bucket_folder_skips_non_data_files_with_a_note(monkeypatch):
    csv = (SAMPLES / "binary.csv").read_bytes()
    _memory_bucket(monkeypatch, {"run/part-0.csv": csv, "run/README.txt": b"hi", "run/schema.json": b"{}",
                                 "run/_SUCCESS": b"", "run/.part-0.csv.crc": b"", "run/_temporary/0/part-9.csv": csv,
                                 "run/sub/part-1.csv.gz": csv})
    got = expand_inputs(["s3://bucket/run/"])
    assert [p.url.split("bucket/", 1)[1] for p in got] == ["run/part-0.csv", "run/sub/part-1.csv.gz"]
    assert len(got.notes) == 1
    assert got.notes[0].startswith("s3://bucket/run: skipped 2 files not named as data (README.txt, schema.json);")


def test_bucket_folder_without_data_names_is_exit_2_naming_what_it_held(monkeypatch):
    from calibcli.errors import InputError

    _memory_bucket(monkeypatch, {"run/README.txt": b"hi", "run/notes.md": b"#"})
    with pytest.raises(InputError) as err:
        expand_inputs(["s3://bucket/run"])
    assert "only files not named as data (README.txt, notes.md)" in str(err.value)
    assert "'s3://bucket/run/*.txt'" in str(err.value) and "names starting with _ or ." not in str(err.value)
    _memory_bucket(monkeypatch, {"run/_SUCCESS": b"", "run/.x.crc": b""})
    with pytest.raises(InputError, match=r"holds no data files \(names starting with _ or \. are skipped\)"):
        expand_inputs(["s3://bucket/run"])


def test_s3_folder_notes_skipped_files(s3, served):
    opts = [a for o in s3.options for a in ("--storage-option", o)]
    s3.client().put_object(Bucket="preds", Key="runs/notes_dir/README.txt", Body=b"hello")
    s3.client().upload_file(str(served / "binary.csv"), "preds", "runs/notes_dir/part-0.csv")
    r = run(["audit", "s3://preds/runs/notes_dir", *opts, "--format", "json", "--no-calibration"])
    assert r.exit_code == 0, r.stderr
    assert any("skipped 1 file not named as data (README.txt)" in w for w in json.loads(r.stdout)["warnings"])
    _no_secret(r.stdout + r.stderr)
