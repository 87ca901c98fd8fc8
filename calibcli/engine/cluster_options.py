"""Checks of the engine options that need no Dask import (``--engine``, ``--scheduler``, ``--workers``)."""

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
