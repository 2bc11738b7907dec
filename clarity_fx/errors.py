"""One error family for everything a user can fix.

Every message names the problem and the fix, on one line. Anything that is
not a :class:`ClarityError` is a bug in clarity-fx, and its traceback is
welcome.
"""

from __future__ import annotations


class ClarityError(Exception):
    """Base class of every error a user can fix."""


class ParameterError(ClarityError, ValueError):
    """A parameter value is out of range or of the wrong type."""


class AudioFileError(ClarityError):
    """An audio file cannot be read or written as asked."""


class PresetError(ClarityError):
    """A preset file is malformed; the message carries ``file:line``."""


class PluginLoadError(ClarityError):
    """An external (VST3) plugin cannot be found or loaded."""


class AudioInputError(ParameterError, TypeError):
    """An audio array has the wrong type, layout or values (see :mod:`clarity_fx.validate`).

    A :class:`ParameterError`, and a ``TypeError`` too, as pedalboard raises for a
    wrong dtype or shape.
    """
