"""``rfft``, ``irfft`` and ``next_fast_len`` of scipy's pocketfft, without importing ``scipy.fft``.

``import scipy.fft`` costs about 0.2 s (its array-API layer and, through fftlog,
``scipy.special``), a tenth of a whole ``clarity apply`` of a denoise preset on
10 minutes of audio. The transforms themselves are scipy's compiled module
``scipy.fft._pocketfft.pypocketfft``: this module loads that file on its own
and registers it under its name, so a later ``import scipy.fft`` uses the same
module. The calls are the ones ``scipy.fft.rfft``/``irfft``/``next_fast_len``
make (real or complex float input, the default norm), so the results are
bit-identical (``tests/test_spectral.py`` checks it). Anything else, or a
scipy whose layout differs, goes through ``scipy.fft`` itself.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["irfft", "next_fast_len", "rfft"]

_NAME = "scipy.fft._pocketfft.pypocketfft"
#: The loaded module, False when it cannot be loaded (scipy.fft is used), None before the first call.
_MODULE: Any = None
_REAL = (np.dtype(np.float32), np.dtype(np.float64))
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


def _pocketfft() -> Any:
    """scipy's pypocketfft module, or False if it is not where scipy keeps it."""
    global _MODULE
    if _MODULE is None:
        _MODULE = sys.modules.get(_NAME) or _load() or False
    return _MODULE


def _load() -> Any:
    try:
        spec = importlib.util.find_spec("scipy")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / "fft" / "_pocketfft"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / f"pypocketfft{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader(_NAME, str(path))
                module_spec = importlib.util.spec_from_file_location(_NAME, path, loader=loader)
                assert module_spec is not None
                module = importlib.util.module_from_spec(module_spec)
                loader.exec_module(module)
                if not all(hasattr(module, name) for name in ("r2c", "c2r", "good_size")):
                    return None
                sys.modules[_NAME] = module
                return module
    except Exception:  # noqa: BLE001 - any surprise: use scipy.fft
        return None
    return None


def _workers(workers: int) -> int:
    return workers + 1 + (os.cpu_count() or 1) if workers < 0 else workers


def _plain(x: np.ndarray, kinds: tuple[np.dtype, ...]) -> bool:
    return x.dtype in kinds and x.dtype.isnative and x.flags.aligned and x.ndim > 0


def rfft(x: np.ndarray, axis: int = -1, workers: int = 1) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=axis, workers=workers)``.

    Parameters
    ----------
    x : numpy.ndarray
        Real input.
    axis : int, optional
        The axis transformed.
    workers : int, optional
        Threads (negative: counted back from the number of CPUs, as scipy does).

    Returns
    -------
    numpy.ndarray
        The complex spectrum, ``n // 2 + 1`` bins along ``axis``.
    """
    module = _pocketfft()
    x = np.asarray(x)
    if not module or not _plain(x, _REAL) or x.shape[axis] < 1:
        import scipy.fft

        return scipy.fft.rfft(x, axis=axis, workers=workers)
    return module.r2c(x, (axis,), True, 0, None, _workers(workers))


def irfft(x: np.ndarray, n: int, axis: int = -1, workers: int = 1) -> np.ndarray:
    """``scipy.fft.irfft(x, n, axis=axis, workers=workers)``.

    Parameters
    ----------
    x : numpy.ndarray
        Complex spectrum.
    n : int
        Length of the output along ``axis``.
    axis : int, optional
        The axis transformed.
    workers : int, optional
        Threads, as for :func:`rfft`.

    Returns
    -------
    numpy.ndarray
        The real signal, ``n`` samples along ``axis``.
    """
    module = _pocketfft()
    x = np.asarray(x)
    if not module or not _plain(x, _COMPLEX) or n < 1 or x.shape[axis] != n // 2 + 1:
        import scipy.fft

        return scipy.fft.irfft(x, n, axis=axis, workers=workers)
    return module.c2r(x, (axis,), n, False, 2, None, _workers(workers))


def next_fast_len(target: int, real: bool = False) -> int:
    """``scipy.fft.next_fast_len(target, real)``: the next 5-smooth (real) or 11-smooth length."""
    module = _pocketfft()
    if not module:
        import scipy.fft

        return scipy.fft.next_fast_len(target, real)
    return int(module.good_size(target, real))
