"""clarity-fx: make recordings clearer, on top of Spotify's pedalboard.

The public API is flat: ``cfx.Chain``, ``cfx.render``, ``cfx.load_preset`` and
the processors. Heavy modules load on first use, so ``import clarity_fx`` and
``clarity --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_LAZY = {
    "Chain": "chain",
    "Mix": "chain",
    "Plugin": "plugin",
    "Param": "plugin",
    "ClarityError": "errors",
    "ParameterError": "errors",
    "AudioFileError": "errors",
    "PresetError": "errors",
    "PluginLoadError": "errors",
    "FFTFilter": "processors.fft_filter",
    "SpectralSubtraction": "processors.spectral",
    "AnalyticFilter": "processors.analytic",
    "ButterworthFilter": "processors.butterworth",
    "HardKneeCompressor": "processors.compressor",
    "TruePeakLimiter": "processors.limiter",
    "LoudnessNormalize": "processors.loudness",
    "Dehum": "processors.dehum",
    "Leveler": "processors.leveler",
    "render": "rendering",
    "Blend": "wrappers",
    "Automate": "wrappers",
    "Lane": "wrappers",
    "load_preset": "preset",
    "save_preset": "preset",
    "master": "mastering",
    "batch": "batching",
    "duck": "sidechain",
    "KeySource": "sidechain",
}

_SUBMODULES = {
    "analysis",
    "chain",
    "cli",
    "errors",
    "plugin",
    "preset",
    "processors",
    "registry",
    "rendering",
    "wrappers",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'clarity_fx' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
