"""The one way clarity-fx compiles its numba kernels.

Every kernel module (``_sos_kernels``, ``_dynamics_kernels``,
``_spectral_kernels``) decorates its kernels at module level with :func:`njit`,
and every processor imports its kernel module lazily, on its first block: so
``import clarity_fx`` and ``clarity --help`` never import numba, and the
compiled machine code is cached on disk beside the module (``cache=True``), so
only the first run after an edit pays for compilation. ``nogil=True`` lets the
STFT pipeline's threads and the batch workers run kernels side by side.
``fastmath`` is asked for by the kernels that were measured faster with it and
whose results it does not change (no NaN or infinity reaches them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

__all__ = ["njit"]

#: Options every kernel is compiled with.
OPTIONS = {"cache": True, "nogil": True}


def njit(function: Callable[..., Any] | None = None, *, fastmath: bool = False) -> Any:
    """``numba.njit`` with :data:`OPTIONS`: use as ``@njit`` or ``@njit(fastmath=True)``.

    Parameters
    ----------
    function : callable, optional
        The kernel (when used as a bare decorator).
    fastmath : bool, optional
        Let LLVM reorder floating-point arithmetic (vectorise reductions).

    Returns
    -------
    numba.core.registry.CPUDispatcher or callable
        The compiled kernel, or a decorator that makes one.
    """
    decorator = numba.njit(fastmath=fastmath, **OPTIONS)
    return decorator if function is None else decorator(function)
