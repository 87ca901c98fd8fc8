"""Checks of the engine options that need no Dask import (``--engine``, ``--scheduler`` and its address form, ``--workers``)."""

from __future__ import annotations

from calibcli.errors import UsageError
from calibcli.validation.options import EngineOptions

INSTALL_HINT = "pip install 'calibcli[dask]'"


def require_dask() -> None:
    """``UsageError`` (exit 2) saying how to install Dask when it is missing."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--engine dask needs Dask (dask.distributed), which is not installed. Install it with "
                         f"{INSTALL_HINT}, or run with --engine local.") from None


def check_engine_options(engine: EngineOptions) -> None:
    """``UsageError`` for cluster options that do not fit together; Dask installed when chosen.

    >>> check_engine_options(EngineOptions())
    >>> check_engine_options(EngineOptions(workers=2))
    Traceback (most recent call last):
    ...
    calibcli.errors.UsageError: --workers chooses a Dask cluster; add --engine dask (or drop the option to run locally).
    """
    if engine.engine != "dask":
        given = [o for o, v in (("--scheduler", engine.scheduler), ("--workers", engine.workers)) if v]
        if given:
            raise UsageError(f"{' and '.join(given)} choose{'s' if len(given) == 1 else ''} a Dask cluster; add --engine dask "
                             "(or drop the option to run locally).")
        return
    require_dask()
    if engine.scheduler and engine.workers:
        raise UsageError("--scheduler uses a running Dask cluster and --workers starts a local one; give one of them.")
    if engine.scheduler is not None:
        check_scheduler_address(engine.scheduler)


SCHEMES = ("tcp", "tls", "ucx", "inproc", "ws", "wss")  # the address schemes dask.distributed connects to
_ADDRESS_HINT = "Give the scheduler's address as tcp://HOST:PORT (a Dask scheduler listens on port 8786 by default), e.g. tcp://10.0.0.5:8786."


def check_scheduler_address(address: str) -> None:
    """``UsageError`` unless ``address`` has the form of a Dask scheduler address (no connection is made).

    Accepted: ``tcp://``, ``tls://``, ``ucx://``, ``ws://`` or ``wss://`` followed by ``HOST:PORT``
    (an IPv6 host in brackets), ``inproc://...``, or a bare ``HOST:PORT`` (read as tcp).

    >>> check_scheduler_address("tcp://10.0.0.5:8786")
    >>> check_scheduler_address("[::1]:8786")
    >>> check_scheduler_address("http://10.0.0.5:8787")
    Traceback (most recent call last):
    ...
    calibcli.errors.UsageError: --scheduler http://10.0.0.5:8787: an http:// address is a web page (such as the Dask dashboard, port 8787 by default), not the scheduler. Dask schedulers listen on tcp://HOST:8786, e.g. tcp://10.0.0.5:8786.
    """
    given = f"--scheduler {address}"
    text = address.strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
        scheme = scheme.lower()
        if scheme in ("http", "https"):
            host = rest.split("/", 1)[0].rsplit(":", 1)[0] if not rest.startswith("[") else rest.split("]", 1)[0] + "]"
            raise UsageError(f"{given}: an {scheme}:// address is a web page (such as the Dask dashboard, port 8787 by "
                             f"default), not the scheduler. Dask schedulers listen on tcp://HOST:8786, e.g. "
                             f"tcp://{host or '10.0.0.5'}:8786.")
        if scheme not in SCHEMES:
            raise UsageError(f"{given}: unknown address scheme {scheme + '://'!r}; Dask schedulers are reached through "
                             f"{', '.join(s + '://' for s in SCHEMES)}. {_ADDRESS_HINT}")
        if scheme == "inproc":
            if not rest:
                raise UsageError(f"{given}: an inproc:// address needs the scheduler's name after inproc://. {_ADDRESS_HINT}")
            return
    else:
        rest = text
    problem = _host_port_problem(rest)
    if problem:
        raise UsageError(f"{given}: not a Dask scheduler address ({problem}). {_ADDRESS_HINT}")


def _host_port_problem(text: str) -> str | None:
    """What is wrong with ``HOST:PORT`` (``[IPv6]:PORT``), or None."""
    if not text:
        return "no host and port"
    if "/" in text or any(c.isspace() for c in text):
        return "HOST:PORT cannot contain '/' or spaces"
    if text.startswith("["):
        host, sep, tail = text[1:].partition("]")
        if not sep:
            return "an IPv6 host needs its closing ']'"
        if not tail.startswith(":"):
            return "no port after the host"
        port = tail[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            return "no port after the host"
        if ":" in host:
            return "write an IPv6 host in brackets: [HOST]:PORT"
    if not host:
        return "no host before the port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"the port {port!r} is not a number from 1 to 65535"
    return None
