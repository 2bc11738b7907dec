"""A preset's frequencies resolved at the sample rate it is rendered at.

A preset is written once and run on 8 kHz phone calls as on 96 kHz masters. A
frequency that a filter's design needs below the Nyquist frequency (a
:class:`~clarity_fx.plugin.Param` with ``below_nyquist``: a Butterworth edge,
pedalboard's IIR corners) may not fit a low rate: a de-esser's 4–9 kHz key band
does not exist in 16 kHz audio. The one rule, for every processor:

- **inside a sidechain key chain** every such frequency at or above Nyquist is
  clamped to :data:`CLAMP_FRACTION` of Nyquist (the key listens to the top of
  what the rate holds). A band whose lower edge reaches that limit too keeps
  its width in octaves below it (4–9 kHz at 8 kHz becomes 1.6–3.6 kHz);
- **in the audio path** only the top of a pass band is clamped (a low-pass
  cutoff, a band-pass's ``high_hz``): "keep everything up to 20 kHz" means
  "keep everything" at 16 kHz. Any other frequency at or above Nyquist (a
  high-pass, a shelf, a peak) is refused, naming the preset, stage and line;
- **a preset that declares its** ``sample_rate`` was written for that rate: it
  is checked there, strictly, and nothing is clamped (``clarity presets
  validate`` does the same).

Each clamp is a :class:`FrequencyClamped` warning, one line naming the preset,
the stage (as ``--set`` names it: ``2.key.0``), the file and line, and the value
used; the CLI prints it as ``clarity: warning: ...``.
The resolver is :func:`clarity_fx.preset.resolve_frequencies`; this leaf module holds its
constants and its warning.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAMP_FRACTION", "Clamp", "FrequencyClamped"]

#: Where a clamped frequency lands, as a fraction of Nyquist: 7.2 kHz at 16 kHz, 3.6 kHz at 8 kHz.
#: Far enough below Nyquist for a stable, well-shaped Butterworth design.
CLAMP_FRACTION = 0.9


class FrequencyClamped(UserWarning):
    """A preset's frequency was lowered to fit the audio's sample rate."""


@dataclass(frozen=True)
class Clamp:
    """One frequency a render uses in place of the preset's.

    Attributes
    ----------
    stage : str
        The stage's path as ``--set`` names it (``"2.key.0"``).
    kind : str
        Its processor type (``"butterworth_filter"``).
    name : str
        The parameter (``"high_hz"``).
    value, used : float
        The preset's value and the one used, Hz.
    """

    stage: str
    kind: str
    name: str
    value: float
    used: float
