"""The pedalboard-compatible contract every clarity-fx processor inherits.

pedalboard cannot host Python code (``pedalboard.Plugin`` cannot be subclassed
from Python), so "pedalboard-compatible" means the same *calling contract*::

    out = plugin.process(input_array, sample_rate, buffer_size=8192, reset=True)
    out = plugin(input_array, sample_rate)          # alias

- 1-D input is mono; 2-D input takes the smaller dimension as channels. The
  output has the input's shape and layout (fewer samples when streaming).
- float32 or float64 in, float32 out; anything else raises ``TypeError``.
- ``reset=True`` clears state first and returns exactly as many samples as
  were given, latency compensated. ``reset=False`` keeps state across calls and
  returns latency-aligned audio: early calls return fewer samples, exactly as
  pedalboard's own plugins do. :meth:`Plugin.flush` then returns the tail, so
  that streaming plus flush equals one whole-buffer call.
- ``buffer_size`` is the size of the blocks the DSP sees; a clarity-fx
  processor's output never depends on it. A native plugin's may (a VST3 with
  block-rate modulation, pedalboard's MP3 codec): a Chain feeds it
  ``buffer_size`` blocks, the last padded with silence, in a stream and in a
  whole-buffer call alike, so its output never depends on the chunks.

Internally every stage speaks one small protocol, so containers (``Chain``,
``Mix``, ``Blend``, ``Automate``) compose without knowing what they hold:

- ``_start(sample_rate, channels, buffer_size)`` begins a stream,
- ``_push(block) -> aligned output`` (possibly fewer samples than pushed),
- ``_finish() -> the rest``, so that total output == total input.

A container says what it holds through :meth:`Plugin.children`, so one walk
(:func:`clarity_fx.walk`) finds every plugin at any depth. What belongs to one
render rather than to the plugins (the external key, a wish for gain traces,
what stages measured) travels in a :class:`RenderContext` that ``render``
makes current for its passes: stages read it when a stream starts and report
to it, so nothing is set on, or left in, the caller's plugins.

A processor implements one method, :meth:`Plugin.process_block`: it receives a
``(channels, n)`` float32 block and returns ``n`` samples delayed by
``latency_for(sample_rate)`` samples. Parameters are :class:`Param`
descriptors, validated when set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from .errors import ParameterError
from .validate import as_channels_first, check_sample_rate

__all__ = [
    "Param",
    "Plugin",
    "RenderContext",
    "StreamState",
    "as_channels_first",
    "current_render",
    "frequency_param",
    "restore_layout",
]


# --------------------------------------------------------------------------- parameters
class Param:
    """A validated, documented processor parameter.

    Parameters
    ----------
    default : object
        Value used when the constructor is not given one.
    unit : str, optional
        Unit shown in help and schema (``"Hz"``, ``"dB"``, ``"ms"``); the
        attribute name should end with it too (``cutoff_hz``).
    minimum, maximum : float, optional
        Inclusive bounds for numbers.
    choices : sequence of str, optional
        Allowed values for a text parameter.
    kind : type, optional
        ``float`` (default), ``int``, ``bool``, ``str`` or ``object``.
    nullable : bool, optional
        Whether ``None`` is allowed.
    help : str, optional
        One sentence for ``clarity plugins`` and the JSON schema.
    exclusive_minimum : bool, optional
        When True, ``minimum`` itself is not allowed (``> minimum``).
    check : callable, optional
        For ``kind=object``: returns the value to keep, or raises ParameterError
        naming the fix. Setting the parameter runs it, so building checks
        exactly what processing needs.
    below_nyquist : bool, optional
        A frequency the design needs below the Nyquist frequency of the audio
        (a Butterworth corner). A preset rendered at a rate that cannot hold it
        is resolved there by :mod:`clarity_fx.rates`: clamped with a notice
        where that is what the user means (a sidechain key band, the top of a
        pass band), otherwise refused naming the preset, stage and line.

    Raises
    ------
    ParameterError
        (a ``ValueError``) when a value of the wrong type or out of range is set.
    """

    def __init__(
        self,
        default: Any,
        *,
        unit: str = "",
        minimum: float | None = None,
        maximum: float | None = None,
        choices: Iterable[str] | None = None,
        kind: type = float,
        nullable: bool = False,
        help: str = "",
        exclusive_minimum: bool = False,
        check: Callable[[Any], Any] | None = None,
        below_nyquist: bool = False,
    ) -> None:
        self.default = default
        self.unit = unit
        self.minimum = minimum
        self.maximum = maximum
        self.choices = tuple(choices) if choices is not None else None
        self.kind = kind
        self.nullable = nullable
        self.help = help
        self.exclusive_minimum = exclusive_minimum
        self.check = check
        self.below_nyquist = bool(below_nyquist)
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.name, self.default)

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.name] = self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to the parameter's type, or raise ParameterError."""
        where = f"{self.name}"
        if value is None:
            if self.nullable:
                return None
            raise ParameterError(f"{where} cannot be empty (None); give a value")
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ParameterError(f"{where} must be true or false, not {value!r}")
        if self.kind in (float, int):
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ParameterError(f"{where} must be a number, not {value!r}")
            if self.kind is int:
                if not math.isfinite(float(value)) or float(value) != int(value):
                    raise ParameterError(f"{where} must be a whole number, not {value!r}")
                value = int(value)
            else:
                value = float(value)
                if not math.isfinite(value):
                    raise ParameterError(f"{where} must be a finite number, not {value!r}")
            unit = f" {self.unit}" if self.unit else ""
            lo, hi = self.minimum, self.maximum
            if lo is not None and (value < lo or (self.exclusive_minimum and value <= lo)):
                sign = ">" if self.exclusive_minimum else "at least"
                raise ParameterError(f"{where}={value:g}{unit} is out of range: use {sign} {lo:g}{unit}")
            if hi is not None and value > hi:
                raise ParameterError(f"{where}={value:g}{unit} is out of range: use at most {hi:g}{unit}")
            return value
        if self.kind is str:
            if not isinstance(value, str):
                raise ParameterError(f"{where} must be text, not {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ParameterError(f"{where}={value!r} is not known: use one of {', '.join(self.choices)}")
            return value
        return self.check(value) if self.check is not None else value

    def spec(self) -> dict[str, Any]:
        """Describe this parameter for help text and JSON schema."""
        return {
            "name": self.name,
            "type": self.kind.__name__,
            "unit": self.unit,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) if self.choices else None,
            "default": self.default,
            "nullable": self.nullable,
            "help": self.help,
            "below_nyquist": self.below_nyquist,
        }


# --------------------------------------------------------------------------- layouts
# as_channels_first (from .validate) is the one input rule; it is re-exported here.


def restore_layout(audio: np.ndarray, channels_last: bool, ndim: int) -> np.ndarray:
    """Return ``(channels, samples)`` audio in the caller's layout, as float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if ndim == 1:
        return audio[0]
    return np.ascontiguousarray(audio.T) if channels_last else audio


# --------------------------------------------------------------------------- stream state
class StreamState:
    """Per-stream scratch space handed to :meth:`Plugin.process_block`.

    Attributes set by the framework: ``sample_rate``, ``channels``,
    ``buffer_size`` and ``position`` (stream samples before this block); and,
    once the flush begins, ``input_end`` (the stream's length: the blocks from
    there on are the flush's silence, not audio). A
    processor keeps its filter memories etc. here as plain attributes, created
    on first use (``if "zi" not in state``). It is thrown away on reset.
    """

    def __init__(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.buffer_size = int(buffer_size)
        self.position = 0

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__


# --------------------------------------------------------------------------- render context
class RenderContext:
    """What one render hands the stages it streams, and what they measure for it.

    ``render`` makes one and makes it current (:func:`current_render`) for its
    pre-passes and its streamed pass, then drops it: a per-render thing (the
    external key, a wish for gain traces) reaches the stages without being set
    on them, and what they measure comes back to the render without being
    left on them.

    Parameters
    ----------
    key : KeySource, optional
        The external sidechain key that stages with ``keyed=True`` listen to.
    trace_gain : bool, optional
        Whether dynamics stages keep a gain-reduction trace of the stream.

    Attributes
    ----------
    measured : dict
        ``id(stage)`` → what that stage reported (name → value), the latest
        stream's values replacing earlier ones (pre-passes run stages too).
    """

    def __init__(self, key: Any = None, trace_gain: bool = False) -> None:
        self.key = key
        self.trace_gain = bool(trace_gain)
        self.measured: dict[int, dict[str, Any]] = {}

    def report(self, stage: Any, **values: Any) -> None:
        """Record what ``stage`` measured (``gain_db=...``, ``gain_reduction_db=...``)."""
        self.measured.setdefault(id(stage), {}).update(values)


_CURRENT_RENDER: ContextVar[RenderContext | None] = ContextVar("clarity_render", default=None)


def current_render() -> RenderContext | None:
    """The :class:`RenderContext` of the render under way, or None outside ``render``."""
    return _CURRENT_RENDER.get()


@contextmanager
def rendering_with(context: RenderContext) -> Iterator[RenderContext]:
    """Make ``context`` current inside the ``with`` block (nested renders restore the outer one)."""
    token = _CURRENT_RENDER.set(context)
    try:
        yield context
    finally:
        _CURRENT_RENDER.reset(token)


def _empty(channels: int) -> np.ndarray:
    return np.zeros((channels, 0), dtype=np.float32)


#: Largest block a plugin is handed: 128x the default. Memory and latency grow with it, nothing improves.
MAX_BUFFER_SIZE = 1 << 20


def _check_block_size(buffer_size: int) -> int:
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or buffer_size < 1:
        raise ParameterError(f"buffer_size must be a positive whole number, not {buffer_size!r}")
    if buffer_size > MAX_BUFFER_SIZE:
        raise ParameterError(f"buffer_size={buffer_size} is too large: use at most {MAX_BUFFER_SIZE} "
                             "(the default, 8192, is right for almost every chain)")
    return int(buffer_size)


def frequency_param(help: str, below_nyquist: bool = False) -> Param:
    """An optional frequency parameter: Hz, above 0, ``None`` until set.

    Parameters
    ----------
    help : str
        One line for ``clarity plugins`` and the schema.
    below_nyquist : bool, optional
        Whether the design needs it below the audio's Nyquist frequency (see :class:`Param`).

    Returns
    -------
    Param
    """
    # 1 mHz: below it a first-order corner overflows (1/(1+jf/fc)) and scipy refuses the design.
    return Param(None, unit="Hz", minimum=MIN_FREQUENCY_HZ, nullable=True, help=help,
                 below_nyquist=below_nyquist)


#: Lowest corner frequency a filter parameter takes: far below hearing, far above float trouble.
MIN_FREQUENCY_HZ = 0.001


# --------------------------------------------------------------------------- the base class
class Plugin:
    """Base class of every clarity-fx processor; the pedalboard calling contract.

    Subclasses declare :class:`Param` attributes and implement
    :meth:`process_block`; if their output is delayed they also override
    :meth:`latency_for`. Everything else (layouts, dtypes, blocking,
    latency alignment, reset, flush) lives here.

    Examples
    --------
    >>> import numpy as np, clarity_fx as cfx
    >>> class Halve(cfx.Plugin):
    ...     def process_block(self, block, state):
    ...         return block * 0.5
    >>> Halve()(np.ones(4, np.float32), 48000)
    array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """

    #: True for processors that must see the audio ahead (a noise region, the
    #: whole file's loudness) before they can process it. ``render`` calls
    #: :meth:`fit` on them in a pre-pass.
    needs_fit: bool = False

    def __init__(self, **params: Any) -> None:
        unknown = [k for k in params if not isinstance(getattr(type(self), k, None), Param)]
        if unknown:
            from difflib import get_close_matches

            known = self.param_names()
            hint = get_close_matches(unknown[0], known, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(known)}"
            raise ParameterError(f"{type(self).__name__} has no parameter {unknown[0]!r}{extra}")
        for name, value in params.items():
            setattr(self, name, value)
        self._state: StreamState | None = None
        self._stream: dict[str, Any] = {}

    # ------------------------------------------------------------------ to implement
    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        """Process one block: the one method a processor implements.

        Parameters
        ----------
        block : numpy.ndarray
            ``(channels, n)`` float32, ``1 <= n <= buffer_size``.
        state : StreamState
            Per-stream memory (filter states, overlap buffers).

        Returns
        -------
        numpy.ndarray
            ``(channels, n)``: the output delayed by ``latency_for(sample_rate)``.
        """
        raise NotImplementedError

    def latency_for(self, sample_rate: float) -> int:
        """Latency in samples at ``sample_rate`` (0 unless overridden)."""
        return 0

    # ------------------------------------------------------------------ introspection
    @classmethod
    def params(cls) -> dict[str, Param]:
        """The :class:`Param` descriptors of this class, by name, in declaration order."""
        found: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Param):
                    found[name] = value
        return found

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the parameters, in declaration order."""
        return list(cls.params())

    def children(self) -> list[Any]:
        """The plugins directly inside this one (none for a processor).

        Containers (``Chain``, ``Mix``), wrappers (``Blend``, ``Automate``) and
        processors that hold a plugin (a compressor's key chain) override it;
        :func:`clarity_fx.chain.walk` visits a whole tree through it.
        """
        return []

    def get_params(self) -> dict[str, Any]:
        """Current parameter values, by name."""
        return {name: getattr(self, name) for name in self.params()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({inner})"

    @property
    def latency_samples(self) -> int:
        """Latency of the current (or last) stream in samples; 48 kHz before any."""
        rate = self._state.sample_rate if self._state is not None else 48000.0
        return int(self.latency_for(rate))

    # ------------------------------------------------------------------ public contract
    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int = 8192,
        reset: bool = True,
    ) -> np.ndarray:
        """Run audio through the processor, exactly like ``pedalboard.Plugin.process``.

        Parameters
        ----------
        input_array : numpy.ndarray
            float32 or float64, 1-D (mono) or 2-D (either layout).
        sample_rate : float
            Sample rate in Hz.
        buffer_size : int, optional
            Largest block handed to the DSP; a clarity-fx processor's output does
            not depend on it (a native plugin in a Chain is fed blocks of exactly
            this size, streamed or whole, and may depend on it).
        reset : bool, optional
            True: clear state, return ``len(input)`` latency-compensated
            samples. False: continue the stream; early calls return fewer
            samples, and :meth:`flush` returns the rest.

        Returns
        -------
        numpy.ndarray
            float32 audio in the input's layout.
        """
        hint = {} if reset else self._stream
        audio, channels_last, ndim = as_channels_first(
            input_array, hint.get("channels"), hint.get("layout", (None,))[0]
        )
        sample_rate = check_sample_rate(sample_rate)
        buffer_size = _check_block_size(buffer_size)
        if reset:
            self.reset()
            out = self._process_whole(audio, sample_rate, buffer_size)
            self._stream["ended"] = True  # a later reset=False call starts afresh
        else:
            s = self._stream
            if s.get("ended") or s.get("rate") != sample_rate or s.get("channels") != audio.shape[0]:
                self.reset()  # pedalboard re-prepares silently on a new rate or channel count
                self._start_stream(sample_rate, audio.shape[0], buffer_size)
            out = self._push(audio)
        self._stream["layout"] = (channels_last, ndim)
        return restore_layout(out, channels_last, ndim)

    __call__ = process

    def flush(self) -> np.ndarray:
        """End a ``reset=False`` stream and return its buffered tail.

        After ``flush`` the samples returned by all ``process(..., reset=False)``
        calls plus this one equal one whole-buffer call. pedalboard has no such
        call and loses the tail (pedalboard issue #244, closed with "pad with silence").

        Returns
        -------
        numpy.ndarray
            float32 audio in the layout of the last ``process`` call; empty
            when no stream is open.
        """
        s = self._stream
        channels_last, ndim = s.get("layout", (False, 2))
        if "rate" not in s or s.get("ended"):
            return restore_layout(_empty(s.get("channels", 1)), channels_last, ndim)
        out = self._finish()
        s["ended"] = True
        return restore_layout(out, channels_last, ndim)

    def reset(self) -> None:
        """Clear all stream state; parameters are kept."""
        self._state = None
        self._stream = {}
        self._reset_stream()

    def stream(
        self, blocks: Iterable[np.ndarray], sample_rate: float, buffer_size: int = 8192
    ) -> Iterator[np.ndarray]:
        """Stream ``(channels, n)`` blocks through, from reset to flush.

        Parameters
        ----------
        blocks : iterable of numpy.ndarray
            Channels-first float blocks of any, varying, size.
        sample_rate : float
            Sample rate in Hz.
        buffer_size : int, optional
            Block size handed to the DSP and to native plugins.

        Yields
        ------
        numpy.ndarray
            Aligned ``(channels, m)`` float32 output; all of it together equals
            one whole-buffer call on the concatenated input.
        """
        sample_rate = check_sample_rate(sample_rate)
        buffer_size = _check_block_size(buffer_size)
        self.reset()
        started = False
        for block in blocks:
            audio = np.ascontiguousarray(block, dtype=np.float32)
            if not started:
                self._start_stream(sample_rate, audio.shape[0], buffer_size)
                started = True
            out = self._push(audio)
            if out.shape[1]:
                yield out
        if started:
            tail = self._finish()
            self._stream["ended"] = True
            if tail.shape[1]:
                yield tail

    # ------------------------------------------------------------------ fitting (pre-pass)
    def fit(self, blocks: Iterable[np.ndarray], sample_rate: float) -> bool | None:
        """Learn from the audio ahead (noise region, whole-file loudness).

        ``render`` calls this on processors with ``needs_fit``, wherever they
        sit in the chain (:func:`~clarity_fx.walk`), in a pre-pass,
        with the same ``(channels, n)`` blocks the processor will later see,
        so that a streamed render equals the whole-buffer call. Return True
        to be given another pass over the same audio. Processors that need no
        pre-pass ignore it.
        """

    def _unfit(self) -> None:
        """Forget what :meth:`fit` learned (render calls this after a file)."""

    # ------------------------------------------------------------------ the stage protocol
    def _start_stream(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._stream = {"rate": sample_rate, "channels": channels, "block": buffer_size, "in": 0, "out": 0}
        self._start(sample_rate, channels, buffer_size)

    def _push(self, audio: np.ndarray) -> np.ndarray:
        s = self._stream
        s["in"] += audio.shape[1]
        out = self._push_aligned(audio)
        s["out"] += out.shape[1]
        return out

    def _finish(self) -> np.ndarray:
        s = self._stream
        out = self._finish_aligned(s["in"] - s["out"])
        s["out"] += out.shape[1]
        return out

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        """Whole-buffer call; containers override it with faster paths."""
        self._start_stream(sample_rate, audio.shape[0], buffer_size)
        head = self._push(audio)
        tail = self._finish()
        return np.concatenate([head, tail], axis=1) if tail.shape[1] else head

    # Default implementation for fixed-latency processors ---------------------------
    def _reset_stream(self) -> None:
        """Hook for containers: reset held plugins."""

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._state = StreamState(sample_rate, channels, buffer_size)
        self._stream["skip"] = int(self.latency_for(sample_rate))

    def _run_blocks(self, audio: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        """Run ``process_block`` over ``buffer_size`` pieces; ``side`` (a sidechain signal
        aligned with ``audio``) is handed over piece by piece as ``state.side``."""
        state = self._state
        assert state is not None
        size, n = state.buffer_size, audio.shape[1]
        if n == 0:
            return _empty(state.channels)
        outs = []
        for start in range(0, n, size):
            block = audio[:, start : start + size]
            if side is not None:
                state.side = side[:, start : start + size]
            out = self.process_block(block, state)
            if out.shape != block.shape:
                raise RuntimeError(
                    f"{type(self).__name__}.process_block returned {out.shape} for {block.shape}"
                )
            outs.append(out)
            state.position += block.shape[1]
            state.__dict__.pop("side", None)
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)

    def _push_aligned(self, audio: np.ndarray, side: np.ndarray | None = None) -> np.ndarray:
        out = self._run_blocks(audio, side)
        skip = min(self._stream["skip"], out.shape[1])
        if skip:
            self._stream["skip"] -= skip
            out = out[:, skip:]
        return np.asarray(out, dtype=np.float32)

    def _finish_aligned(self, owed: int) -> np.ndarray:
        """Return ``owed`` more samples: the tail still inside the latency."""
        if self._state is not None:
            self._state.input_end = self._state.position  # what comes now is padding
        channels = self._stream["channels"]
        if owed <= 0:
            return _empty(channels)
        pad = self._stream["skip"] + owed
        out = self._run_blocks(np.zeros((channels, pad), dtype=np.float32))
        return np.asarray(out[:, pad - owed :], dtype=np.float32)


def iter_blocks(audio: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Yield ``(channels, <=size)`` views of ``(channels, n)`` audio."""
    for start in range(0, audio.shape[1], size):
        yield audio[:, start : start + size]


Transform = Callable[[np.ndarray], np.ndarray]
