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
#: storage option keys containing one of these (any case) hold credentials: their values are masked everywhere
SECRET_KEY_WORDS = ("key", "secret", "token", "password", "passwd", "sig", "credential", "auth", "session", "sas",
                    "cookie")
#: options that take a mapping, given as nested keys: option -> an example
NESTED_OPTIONS = {
    "headers": "headers.Authorization='Bearer ...'", "proxy_headers": "proxy_headers.Proxy-Authorization=...",
    "client_kwargs": "client_kwargs.region_name=eu-west-1", "config_kwargs": "config_kwargs.signature_version=s3v4",
    "s3_additional_kwargs": "s3_additional_kwargs.ServerSideEncryption=AES256", "cache_options": "cache_options.KEY=...",
    "cookies": "cookies.NAME=...", "params": "params.NAME=...",
}


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


def is_secret_key(key: str) -> bool:
    """Whether a storage option's value may be a credential, from its (possibly nested) key: the key
    contains key, secret, token, password, passwd, sig, credential, auth, session, sas or cookie (any
    case), or it is a header (``headers.NAME``: an API key may be sent under any header name).

    >>> [is_secret_key(k) for k in ("secret", "headers.Authorization", "account_key", "endpoint_url", "anon")]
    [True, True, True, False, False]
    """
    lower = str(key).lower()
    return any(w in lower for w in SECRET_KEY_WORDS) or lower.split(".")[0] in ("headers", "proxy_headers")


def _url_secrets(url: str) -> list[str]:
    """The user info and query values of a URL."""
    out: list[str] = []
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
    return out


def secrets_of(url: str, storage_options=()) -> list[str]:
    """The substrings of ``url`` and of the storage option values that must never be shown: the user
    info and query values of ``url``, the values of options whose keys look secret
    (:func:`is_secret_key`; also each long word of them, as the token in ``Bearer <token>``), and the
    user info and query values of other options' values that are URLs (``endpoint_url``). The other
    values (``endpoint_url=http://host:9000``, ``anon=true``) are not secrets: masking them would
    also mask them where they occur in the input URLs."""
    out = [str(v) for k, v in storage_options if is_secret_key(k)]
    out += [w for v in list(out) for w in v.split() if len(w) >= 8]  # a token inside "Bearer <token>"
    for k, v in storage_options:
        if not is_secret_key(k) and scheme_of(str(v)) is not None:
            out += _url_secrets(str(v))
    out += _url_secrets(url)
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


def http_option_names() -> frozenset[str]:
    """The option names fsspec's HTTPFileSystem takes: its own parameters and, as it passes every
    other option to each request, the keyword arguments of ``aiohttp.ClientSession.request``."""
    import inspect

    from fsspec.implementations.http import HTTPFileSystem

    names: set[str] = set()
    for fn in (HTTPFileSystem.__init__, getattr(__import__("aiohttp").ClientSession, "_request", None)):
        try:
            params = inspect.signature(fn).parameters.values() if fn is not None else ()
        except (TypeError, ValueError):
            params = ()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    names -= {"self", "method", "str_or_url", "loop", "get_client", "asynchronous", "data", "json"}
    return frozenset(names | {"headers", "client_kwargs", "cookies", "params", "timeout", "ssl", "proxy"})


def check_options(url: str, storage_options) -> None:
    """Refuse storage options the filesystem of ``url`` would fail on later with a cryptic message: a
    mapping option given a flat value (``headers={}``) and, for http(s), a name the HTTP filesystem
    does not take (``anon``: it would reach every request as an unknown keyword argument)."""
    scheme = scheme_of(url)
    for key, _ in storage_options:
        top, _, nested = str(key).partition(".")
        if top in NESTED_OPTIONS and not nested:
            raise InputError(f"--storage-option {key}=...: '{key}' takes a mapping, given as nested keys, one "
                             f"--storage-option per entry, e.g. --storage-option {NESTED_OPTIONS[top]} "
                             f"(a flat value such as {key}={{}} is text, not a mapping).")
    if scheme in ("http", "https") and storage_options:
        try:
            known = http_option_names()
        except ImportError:
            return  # filesystem() names the package to install
        for key, _ in storage_options:
            top = str(key).partition(".")[0]
            if top not in known:
                raise InputError(
                    f"--storage-option {key}=...: '{top}' is not an option of the {scheme}:// filesystem (options "
                    "are passed to fsspec's HTTPFileSystem and, from it, to every aiohttp request). It takes e.g. "
                    "headers.NAME=VALUE (headers.Authorization='Bearer ...'), client_kwargs.trust_env=true, "
                    "ssl=false, proxy=URL; options such as anon, key and endpoint_url are for "
                    "object stores (s3://, gs://, az://).")


def filesystem(url: str, storage_options=()):
    """(fsspec filesystem, path within it) for ``url``; a missing package or a bad option is an ``InputError``."""
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in ("s3", "gs", "az", "abfs", "https", "http", "file"))
        raise InputError(f"{redact(url)}: calib does not read {scheme}:// URLs. It reads local paths and {known}.")
    check_options(url, storage_options)
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
    if isinstance(exc, (TypeError, AttributeError)) and storage_options:  # a value of another type than expected
        keys = ", ".join(k for k, _ in storage_options)
        return InputError(f"{shown}: {doing} the URL ({type(exc).__name__}: {reason}): a --storage-option value may "
                          f"not be of the type the filesystem expects (keys given: {keys}; values are text, "
                          "true/false, and a.b=v for mappings). Check the --storage-option names and values.")
    return InputError(f"{shown}: {doing} the URL ({type(exc).__name__}: {reason}). "
                      "Check the address, the network and the --storage-option values.")


def _remote_parts(pattern: str, fs, path: str) -> tuple[list[str], str | None]:
    """The data files under a bucket folder (recursively; hidden and ``_`` folders, ``_SUCCESS``,
    ``.crc`` skipped), sorted, and a note naming the files skipped because their names are not data
    names (None when there are none): the rules of a local directory of parts."""
    from calibcli.sources.paths import is_data_name, skipped_note

    root = path.rstrip("/")
    found, other = [], []
    for p in fs.find(path):
        rel = p[len(root):].lstrip("/") if p.startswith(root) else p.rsplit("/", 1)[-1]
        *folders, name = rel.split("/")
        if any(f.startswith((".", "_")) for f in folders) or name.startswith(("_", ".")) or name.endswith(".crc"):
            continue
        (found if is_data_name(name) else other).append((p, rel))
    found.sort()
    other.sort()
    where = redact(pattern).rstrip("/")
    note = skipped_note(where, [rel for _, rel in other], bool(found), lambda name: f"{where}/{name}")
    return [p for p, _ in found], note


def expand_url(pattern: str, storage_options=(), notes: list[str] | None = None) -> list[RemoteURL]:
    """The files a URL names: itself, a glob's matches (sorted), or a directory's data files (sorted).

    http(s) URLs are taken as they are (HTTP cannot list); ``?`` there starts the query. A directory
    is read as a local one is (:func:`calibcli.sources.paths.expand_inputs`): files not named as data
    are skipped, and a sentence naming them is appended to ``notes`` (when given) for a warning.
    """
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
            found, note = _remote_parts(pattern, fs, path)
            if note and notes is not None:
                notes.append(note)
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
