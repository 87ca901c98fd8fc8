"""Compiled kernels for the hot per-row loops, with numpy code as the reference and the fallback.

The measurement and temperature passes spend their time in a few loops over the
``(n, K)`` scores of a batch: softmax, binning and the per-bin sums. numpy runs
each as several passes over memory with temporaries; a compiled kernel (numba)
makes one pass per row. Every kernel has a numpy twin that gives the same numbers
(sums are added in row order in both), and tests compare the two.

Which code runs is decided per call by :func:`use_compiled`:

- ``CALIBCLI_KERNELS=auto`` (default): the compiled kernel when numba imports and the
  call holds at least :data:`MIN_ENTRIES` scores (small inputs never pay numba's
  import and first compilation); within a pass, as the source chose for its batches
  (:func:`scope`: batches of at least :data:`MIN_ENTRIES` scores), for every call of at least
  :data:`MIN_ENTRIES_LOADED` scores;
- ``CALIBCLI_KERNELS=numba``: always the compiled kernel (an error when numba is missing);
- ``CALIBCLI_KERNELS=numpy``: never.

Kernels are compiled on first use and cached on disk (``cache=True``), so only the
first run on a machine pays the compilation.

>>> mode() in ("auto", "numba", "numpy")
True
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from typing import Callable, Iterator

MIN_ENTRIES = 1 << 17  # scores per batch (rows x columns) from which the compiled kernels pay
MIN_ENTRIES_LOADED = 1 << 12  # ... and from which they pay in a pass whose source chose them (scope)
_MODES = ("auto", "numba", "numpy")
_COMPILE_LOCK = threading.RLock()  # held while compiling (passes run in threads); re-entrant: helpers compile under it


def mode() -> str:
    """The kernel mode from ``CALIBCLI_KERNELS`` (``auto`` when unset)."""
    value = os.environ.get("CALIBCLI_KERNELS", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise ValueError(f"CALIBCLI_KERNELS must be one of {', '.join(_MODES)}; got {value!r}")
    return value


@functools.cache
def available() -> bool:
    """Whether numba can be imported (it is a dependency, but a platform may lack its wheels)."""
    try:
        _numba()
    except Exception:  # noqa: BLE001 - any import failure means: use numpy
        return False
    if not _preload_started:  # (a preload sets it once the first kernel is loaded too)
        _READY.set()
    return True


def installed() -> bool:
    """Whether numba is installed (found on the path; never imports it, nor waits for an import running in
    another thread). A choice made on it is checked later against :func:`available` (e.g. the first pass fed
    during the scan, :mod:`calibcli.engine.speculation`); the answer does not depend on timing, so neither
    does that choice.

    >>> installed() in (True, False)
    True
    """
    import importlib.util

    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):  # e.g. a module object without a spec in sys.modules
        return False


_READY = threading.Event()  # numba is imported and its first kernel loaded (see ready())
_PRELOAD = threading.Lock()
_preload_started = False


def ready() -> bool:
    """Whether numba is imported and its first kernel loaded now (never waits for them): kernels whose numpy
    twin gives the same bits (the scan's evidence) use it only then, while :func:`preload` loads it.

    In ``CALIBCLI_KERNELS=numba`` mode: always (importing it first); ``numpy`` mode: never.

    >>> ready() in (True, False)
    True
    """
    m = mode()
    if m == "numba":
        return available()
    return m == "auto" and _READY.is_set()


def preload() -> None:
    """Import numba and load a first kernel in a background thread (once per process), so that the scan's
    first batches, checked with the bit-identical numpy code meanwhile, overlap the import (about 0.25 s)
    and numba's set-up on its first kernel (about 0.2 s) instead of waiting for them."""
    global _preload_started
    if mode() == "numpy" or _READY.is_set():
        return
    with _PRELOAD:
        if not _preload_started:
            _preload_started = True
            threading.Thread(target=_load, name="calib-numba-import", daemon=True).start()


def _load() -> None:
    """:func:`preload`'s thread: import numba, then load the bootstrap blocks' kernel (every measurement of a
    large input calls it), whose first call sets up numba's typing of every later kernel; then :func:`ready`."""
    if not available():  # (ready() stays False: the numpy code runs)
        return
    try:
        import numpy as np

        from calibcli.kernels.rng import group_of

        group_of(np.zeros(1, dtype=np.uint64), 0, 1)
    except Exception:  # noqa: BLE001 - the kernel's own callers meet (and report) any failure
        pass
    _READY.set()


_SKIP_BLAS_PROBE = False  # set by skip_blas_probe() in a process calib owns (the calib command)


def skip_blas_probe() -> None:
    """Let numba skip its import of ``scipy.linalg`` when this process first loads a kernel (the ``calib`` command).

    Loading the first kernel imports ``numba.np.arraymath``, which imports ``scipy.linalg``
    (about 0.2 s: scipy's array-API layer also imports ``numpy.f2py``) only to decide whether
    ``np.correlate`` and ``np.convolve`` in compiled code use BLAS or a plain loop. The kernels
    use neither, so the ``calib`` command imports that module with ``scipy.linalg`` hidden from
    its thread. Not done for Python callers: their own numba code may use those two functions.
    ``scipy.linalg`` itself stays importable (it is imported later if anything needs it).
    """
    global _SKIP_BLAS_PROBE
    _SKIP_BLAS_PROBE = True


class _Hidden:
    """An import finder that hides ``names`` from one thread (as if they were not installed)."""

    def __init__(self, names: tuple[str, ...]):
        self.names, self.thread = names, threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is hidden while numba loads (calibcli.kernels.skip_blas_probe)", name=name)
        return None


def _numba():
    """``import numba``; the first time, in a process that asked for :func:`skip_blas_probe`, without the probe."""
    import numba

    if _SKIP_BLAS_PROBE and "numba.np.arraymath" not in sys.modules:
        with _COMPILE_LOCK:
            hidden = _Hidden(("scipy.linalg",))
            sys.meta_path.insert(0, hidden)
            try:
                import numba.np.arraymath  # noqa: F401 - its import probes scipy.linalg
            finally:
                sys.meta_path.remove(hidden)
    return numba


def use_compiled(entries: int) -> bool:
    """Whether a batch of ``entries`` scores goes through the compiled kernels.

    >>> use_compiled(0) if mode() == "auto" else False
    False
    """
    m = mode()
    if m == "numpy":
        return False
    if m == "numba":
        if not available():
            raise RuntimeError("CALIBCLI_KERNELS=numba but numba cannot be imported; pip install numba")
        return True
    chosen = getattr(_SCOPE, "compiled", None)
    if chosen is not None:  # inside a pass: the source chose for its batches (see scope)
        return chosen and entries >= MIN_ENTRIES_LOADED and available()
    return entries >= MIN_ENTRIES and available()


_SCOPE = threading.local()


@contextlib.contextmanager
def scope(compiled: bool | None) -> Iterator[None]:
    """Within the block (in this thread), ``auto`` mode uses the kernels for calls of at least
    :data:`MIN_ENTRIES_LOADED` scores when ``compiled``, and never when not (None: by each call's size).

    A pass sets it from its source's batches (``feed``), so the chunks of a batch and its
    1-D columns follow the batch, and the choice depends on the input and options only,
    never on what the process ran before.

    >>> with scope(False):
    ...     use_compiled(10**9) if mode() == "auto" else False
    False
    """
    prev = getattr(_SCOPE, "compiled", None)
    _SCOPE.compiled = compiled
    try:
        yield
    finally:
        _SCOPE.compiled = prev


def name(chosen: bool | None = None) -> str:
    """``"numba"`` or ``"numpy"``: the kernels of passes whose source chose ``chosen`` (None: by each
    call's size, i.e. numba for large calls), in the current mode (for the JSON ``engine`` object)."""
    m = mode()
    if m == "numpy" or (m == "auto" and chosen is False):  # (no import of numba to say so)
        return "numpy"
    return "numba" if available() else "numpy"


def jit(fn: Callable | None = None, *, helpers: tuple[Callable, ...] = ()) -> Callable:
    """``fn`` compiled by ``numba.njit(cache=True, nogil=True)`` on its first call (IEEE arithmetic: no fastmath).

    The wrapper imports numba only when called, so importing a kernel module stays cheap.
    ``helpers`` are plain functions ``fn`` calls by name (e.g. :mod:`calibcli.kernels.shared`;
    a helper that calls helpers names them with :func:`uses`): each is compiled once
    (:func:`compiled_helper`) and bound to its name in ``fn``'s module before ``fn`` compiles
    (``call.bind_helpers()``). (numba's disk cache of ``fn`` does not notice a change of a helper:
    after editing one, delete ``calibcli/kernels/__pycache__``.)
    """
    if fn is None:
        return lambda f: jit(f, helpers=helpers)
    compiled: list[Callable] = []

    @functools.wraps(fn)
    def call(*args):
        if not compiled:
            with _COMPILE_LOCK:  # passes run in threads (calibcli.engine.local)
                if not compiled:
                    numba = _numba()
                    _bind(fn, helpers)
                    compiled.append(numba.njit(cache=True, nogil=True)(fn))
        return compiled[0](*args)

    call.py_func = fn  # the pure-Python body, for tests on tiny inputs
    call.bind_helpers = functools.partial(_bind, fn, helpers)
    return call


def uses(*helpers: Callable) -> Callable[[Callable], Callable]:
    """Mark a helper as calling ``helpers`` by name: :func:`compiled_helper` binds their compiled twins
    in its module before compiling it. Returns the function itself (still plain Python)."""

    def mark(fn: Callable) -> Callable:
        fn.kernel_helpers = helpers
        return fn

    return mark


def _bind(fn: Callable, helpers: tuple[Callable, ...]) -> None:
    """Bind the compiled twin of each of ``helpers`` to its name in ``fn``'s module (numba resolves the
    names as globals when it compiles ``fn``)."""
    for helper in helpers:
        twin = compiled_helper(helper)
        fn.__globals__[twin.py_func.__name__] = twin


_HELPERS: dict[Callable, Callable] = {}


def compiled_helper(fn: Callable) -> Callable:
    """The numba-compiled twin of a helper function (compiled once per process, whichever thread asks first;
    given the compiled twin itself, it returns it), its own helpers (:func:`uses`) bound first."""
    fn = getattr(fn, "py_func", fn)
    with _COMPILE_LOCK:
        if fn not in _HELPERS:
            numba = _numba()
            _bind(fn, getattr(fn, "kernel_helpers", ()))
            _HELPERS[fn] = numba.njit(cache=True, nogil=True)(fn)
        return _HELPERS[fn]
