"""Inputs named by URL (s3://, gs://, az://, abfs://, https://, http://): listing, opening, and
keeping credentials out of every message.

A URL input is a :class:`RemoteURL`: a ``str`` whose value is the *redacted* URL (user
info, query values such as signatures and tokens replaced by ``***``), safe to print,
log or write into a report; the real URL and the storage options (``--storage-option``
pairs, which may be credentials) travel as attributes and are read only when a file is
opened. It pickles, so a worker process can open the same file: every open goes through
:func:`open_remote` with (url, storage options), and nothing holds an open handle.

Files are read through fsspec: ``s3fs`` for s3://, ``gcsfs`` for gs://, ``adlfs`` for
az:// and abfs://, ``aiohttp`` for http(s)://; each is optional and a missing one is an
error naming what to ``pip install``. Credentials also come from the environment as those
libraries read it (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_*``).
Text formats are streamed (HTTP: one GET read as it arrives; object stores: ranged reads
of ``REMOTE_BLOCK`` bytes); formats that need seeking (Parquet, Arrow files, .npz) use
ranged reads, or a temporary copy when an HTTP server does not answer range requests.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from calibcli.errors import InputError
from calibcli.sources.sniffing import printable

#: scheme -> (fsspec protocol, the package to pip install)
SCHEMES = {
    "s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"), "gcs": ("gcs", "gcsfs"),
    "az": ("az", "adlfs"), "abfs": ("abfs", "adlfs"), "abfss": ("abfs", "adlfs"),
    "http": ("http", "aiohttp"), "https": ("https", "aiohttp"),
}
#: package -> where its credentials come from, for "permission denied" messages
CREDENTIALS_HINT = {
    "s3fs": "AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --storage-option key=... secret=...",
    "gcsfs": "GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login, or --storage-option token=...",
    "adlfs": "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN, or --storage-option "
             "account_name=... account_key=...",
    "aiohttp": "a signed URL's query, or a header such as --storage-option headers.Authorization='Bearer ...'",
}
REMOTE_BLOCK = 1 << 22  # bytes per ranged read
MASK = "***"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SECRET_FREE = {"true", "false", "yes", "no", "none", "null", "0", "1"}


def scheme_of(text: str) -> str | None:
    """The lower-cased scheme of a URL (``'s3'``), or None for a local path.

    >>> scheme_of("S3://bucket/key.csv"), scheme_of("runs/*.csv"), scheme_of("C:\\\\data\\\\x.csv")
    ('s3', None, None)
    """
    m = _URL.match(str(text))
    return m.group(1).lower() if m else None


def redact(url: str) -> str:
    """``url`` with its user info and every query value replaced by ``***`` (signatures, tokens).

    >>> redact("https://user:pw@host/x.csv?X-Amz-Signature=abc&v=1")
    'https://***@host/x.csv?X-Amz-Signature=***&v=***'
    >>> redact("s3://bucket/runs/a.parquet"), redact("runs/a?.csv")
    ('s3://bucket/runs/a.parquet', 'runs/a?.csv')
    """
    if scheme_of(url) is None:
        return str(url)  # a local path or glob: nothing to hide
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = "&".join(f"{p.partition('=')[0]}={MASK}" if "=" in p else MASK for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def secrets_of(url: str, storage_options=()) -> list[str]:
    """The substrings of ``url`` and the storage option values that must never be shown."""
    out = [str(v) for _, v in storage_options]
    out += [w for v in list(out) for w in v.split() if len(w) >= 8]  # a token inside "Bearer <token>"
    try:
        parts = urlsplit(str(url))
        if "@" in parts.netloc:
            out.append(parts.netloc.rpartition("@")[0])
            out.extend(parts.netloc.rpartition("@")[0].split(":"))
        out.extend(p.partition("=")[2] if "=" in p else p for p in parts.query.split("&"))
        if parts.query:
            out.append(parts.query)
    except ValueError:
        pass
    found = {s for s in out if s and s.lower() not in _SECRET_FREE and len(s) >= 2}
    found |= {quote(s, safe="") for s in found}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: str = "", storage_options=()) -> str:
    """``text`` (e.g. an exception message) with the URL shown redacted and every secret masked.

    >>> scrub("403 for http://h/x?sig=S3CRET key=AKIA123", "http://h/x?sig=S3CRET", [("key", "AKIA123")])
    '403 for http://h/x?sig=*** key=***'
    """
    text = str(text)
    if url:
        text = text.replace(str(url), redact(url))
    for s in secrets_of(url, storage_options):
        text = text.replace(s, MASK)
    return text


class RemoteURL(str):
    """An input URL: its ``str`` value is the redacted URL (safe to print); ``url`` is the real
    one and ``storage_options`` the (key, value) pairs to open it with."""

    url: str
    storage_options: tuple[tuple[str, str], ...]

    def __new__(cls, url: str, storage_options=()) -> "RemoteURL":
        self = super().__new__(cls, redact(url))
        self.url = str(url)
        self.storage_options = tuple((str(k), str(v)) for k, v in storage_options)
        return self

    def __repr__(self) -> str:
        return f"RemoteURL({str.__repr__(self)})"

    def __str__(self) -> str:
        # str(url) keeps the object (its value is already the redacted text), so code that converts input
        # names with str() still passes a URL that can be opened, with its storage options
        return self

    def scrub(self, text: str) -> str:
        """``text`` with this URL redacted and its secrets masked."""
        return scrub(text, self.url, self.storage_options)


def fs_kwargs(storage_options) -> dict:
    """Storage options as fsspec keyword arguments: ``true``/``false`` become booleans, ``a.b=v`` nests.

    >>> fs_kwargs([("anon", "true"), ("client_kwargs.region_name", "eu-west-1"), ("key", "K")])
    {'anon': True, 'client_kwargs': {'region_name': 'eu-west-1'}, 'key': 'K'}
    """
    out: dict = {}
    for key, value in storage_options:
        v: object = {"true": True, "false": False}.get(str(value).lower(), value)
        *outer, last = str(key).split(".")
        d = out
        for k in outer:
            d = d.setdefault(k, {})
        d[last] = v
    return out


def _missing_package(scheme: str, exc: ImportError) -> InputError:
    pkg = SCHEMES.get(scheme, ("", "fsspec"))[1]
    needs = f"fsspec and {pkg}" if "fsspec" in str(exc) else pkg
    return InputError(f"reading {scheme}:// URLs needs {needs}, which is not installed. "
                      f"Install it with: pip install {'fsspec ' if 'fsspec' in str(exc) else ''}{pkg}")


def filesystem(url: str, storage_options=()):
    """(fsspec filesystem, path within it) for ``url``; a missing package or a bad option is an ``InputError``."""
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in ("s3", "gs", "az", "abfs", "https", "http", "file"))
        raise InputError(f"{redact(url)}: calib does not read {scheme}:// URLs. It reads local paths and {known}.")
    try:
        import fsspec

        protocol = SCHEMES[scheme][0]
        cls = fsspec.get_filesystem_class(protocol)
        fs = cls(**fs_kwargs(storage_options))
    except ImportError as exc:
        raise _missing_package(scheme, exc) from None
    except (TypeError, ValueError) as exc:
        keys = ", ".join(k for k, _ in storage_options) or "none"
        raise InputError(f"{redact(url)}: the storage options do not fit a {scheme}:// filesystem "
                         f"({scrub(printable(str(exc)), url, storage_options)}; keys given: {keys}). "
                         "Check the --storage-option names.") from None
    path = url if protocol in ("http", "https") else fs._strip_protocol(url)
    return fs, path


def remote_error(url: str, storage_options, exc: BaseException, doing: str = "cannot open") -> InputError:
    """An ``InputError`` naming the (redacted) URL and why it could not be read; never a secret."""
    shown = redact(url)
    if isinstance(exc, ImportError):
        return _missing_package(scheme_of(url) or "", exc)
    cause = exc.__cause__  # fsspec's HTTP filesystem reports every failure as FileNotFoundError from the cause
    if isinstance(exc, FileNotFoundError) and cause is not None and not isinstance(cause, FileNotFoundError):
        exc = cause
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code") if isinstance(
        getattr(exc, "response", None), dict) else None  # botocore's ClientError
    if code in ("NoSuchBucket", "ContainerNotFound", "BucketNotFound"):
        return InputError(f"{shown}: no such bucket or container. Check the URL and the region or endpoint.")
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationFailure"):
        status = 403
    if code in ("NoSuchKey", "404"):
        status = 404
    if status == 404 or (isinstance(exc, FileNotFoundError) and status is None):
        return InputError(f"{shown}: no such file (not found on the server). Check the URL, bucket and key.")
    if isinstance(exc, PermissionError) or status in (401, 403):
        hint = CREDENTIALS_HINT.get(SCHEMES.get(scheme_of(url) or "", ("", ""))[1], "")
        return InputError(f"{shown}: permission denied. Check the credentials ({hint}) and that they may read this object.")
    reason = printable(scrub(str(exc) or type(exc).__name__, url, storage_options))
    return InputError(f"{shown}: {doing} the URL ({type(exc).__name__}: {reason}). "
                      "Check the address, the network and the --storage-option values.")


def expand_url(pattern: str, storage_options=()) -> list[RemoteURL]:
    """The files a URL names: itself, a glob's matches (sorted), or a directory's data files (sorted).

    http(s) URLs are taken as they are (HTTP cannot list); ``?`` there starts the query.
    """
    from calibcli.sources.paths import is_part_file

    scheme = scheme_of(pattern)
    fs, path = filesystem(pattern, storage_options)
    if scheme in ("http", "https"):
        return [RemoteURL(pattern, storage_options)]

    def url_of(p: str) -> str:
        return f"{scheme}://{p.split('://', 1)[-1]}"

    try:
        if any(ch in path for ch in "*?["):
            found = sorted(p for p, info in fs.glob(path, detail=True).items() if info.get("type") != "directory")
            if not found:
                raise InputError(f"{redact(pattern)}: the pattern matches no file. Check the bucket and prefix.")
            return [RemoteURL(url_of(p), storage_options) for p in found]
        if fs.isdir(path):
            found = sorted(p for p in fs.find(path) if is_part_file(p.rsplit("/", 1)[-1]))
            if not found:
                raise InputError(f"{redact(pattern)}: the directory holds no data files (names starting with _ or . "
                                 "are skipped). Pass a directory of Parquet or CSV parts, or the files themselves.")
            return [RemoteURL(url_of(p), storage_options) for p in found]
        fs.info(path)  # raises FileNotFoundError / PermissionError
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - every library raises its own types
        raise remote_error(pattern, storage_options, exc, "cannot list") from None
    return [RemoteURL(pattern, storage_options)]


class FullReads:
    """A streamed file whose ``read(n)`` returns n bytes unless the data ends (a network stream
    returns what has arrived): the CSV reader's blocks, hence the batches and the order of every
    sum, are then those of the same file read from disk, so the numbers are equal to the last bit."""

    def __init__(self, f):
        self._f = f

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return self._f.read()
        chunks, got = [], 0
        while got < n:
            chunk = self._f.read(n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._f.tell()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "FullReads":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_remote(url: str, storage_options=(), sequential: bool = False):
    """A binary file object reading ``url`` (``sequential``: read once from the start; HTTP then
    streams one GET instead of ranged requests). The caller closes it."""
    scheme = scheme_of(url)
    fs, path = filesystem(url, storage_options)
    try:
        if scheme in ("http", "https"):
            if sequential:
                return FullReads(fs.open(path, "rb", block_size=0))
            return fs.open(path, "rb", block_size=REMOTE_BLOCK)
        return fs.open(path, "rb", block_size=REMOTE_BLOCK, cache_type="readahead" if sequential else "bytes")
    except Exception as exc:  # noqa: BLE001
        raise remote_error(url, storage_options, exc) from None


def remote_size(url: str, storage_options=()) -> int | None:
    """The size in bytes of the object, or None when the server does not say."""
    fs, path = filesystem(url, storage_options)
    try:
        size = fs.size(path)
    except Exception:  # noqa: BLE001 - only an estimate depends on it
        return None
    return int(size) if size is not None else None


def seekable(f) -> bool:
    """Whether ``f`` answers reads at any offset (an HTTP server may not take range requests)."""
    try:
        size = f.size if getattr(f, "size", None) is not None else None
        if size is None or not f.seekable():
            return False
        f.seek(max(0, size - 8))
        f.read(8)
        f.seek(0)
    except (ValueError, OSError, NotImplementedError):
        return False
    except Exception:  # noqa: BLE001 - aiohttp errors for a refused range
        return False
    return True
