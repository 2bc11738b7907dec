"""Wrappers that work on any plugin: ``Blend`` (wet/dry, hear what was removed) and ``Automate``.

Both hold one plugin (clarity-fx, pedalboard built-in, VST3 or a Chain) as a
stage and speak the same stream protocol, so they stream exactly and compose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .chain import _concat, as_stage, is_native
from .errors import ParameterError
from .plugin import Param, Plugin, _empty
from .registry import suggest

__all__ = ["Blend", "Automate", "Lane"]


class _Wrapper(Plugin):
    """What every one-plugin wrapper passes through to the plugin it holds."""

    plugin: Any

    def children(self) -> list[Any]:
        """The one plugin it holds (``render``'s pre-pass fits it through :func:`~clarity_fx.walk`)."""
        return [self.plugin]

    def latency_for(self, sample_rate: float) -> int:
        return as_stage(self.plugin).latency_for(sample_rate)

    def _reset_stream(self) -> None:
        self.plugin.reset()


class Blend(_Wrapper):
    """Wet/dry mix around any plugin, or what the plugin removed.

    ``listen="processed"``: y = wet · P(x) + (1 − wet) · x.
    ``listen="removed"``:   y = x − [wet · P(x) + (1 − wet) · x] = wet · (x − P(x)),

    so processed + removed = input, sample for sample. The dry path ``x`` is
    delayed to match the plugin's latency (the plugin's output is aligned
    first, then combined with the dry samples it corresponds to), so
    ``wet=0`` gives the input exactly and ``wet=1`` the plugin's output exactly.

    Parameters
    ----------
    plugin : Plugin or pedalboard plugin
        Any plugin, including a VST3 or a Chain.
    wet : float, optional
        0 (dry) to 1 (fully processed).
    listen : {"processed", "removed"}, optional
        "removed" outputs what the stage took away: iZotope RX's "output
        noise only", for any stage.

    Examples
    --------
    >>> import clarity_fx as cfx, pedalboard
    >>> removed = cfx.Blend(pedalboard.HighpassFilter(200), listen="removed")  # the rumble it cut
    """

    wet = Param(1.0, minimum=0.0, maximum=1.0, help="0 = dry, 1 = fully processed.")
    listen = Param(
        "processed",
        kind=str,
        choices=("processed", "removed"),
        help="'removed' outputs input minus processed: what the stage took away.",
    )

    def __init__(self, plugin: Any, wet: float = 1.0, listen: str = "processed") -> None:
        super().__init__(wet=wet, listen=listen)
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"Blend({self.plugin!r}, wet={self.wet}, listen={self.listen!r})"

    def _combine(self, processed: np.ndarray, dry: np.ndarray) -> np.ndarray:
        wet = self.wet
        if wet == 1.0:
            blended = processed
        elif wet == 0.0:
            blended = dry
        else:
            blended = wet * processed + (1.0 - wet) * dry
        return (dry - blended) if self.listen == "removed" else blended

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._stage = as_stage(self.plugin)
        self._stage._start_stream(sample_rate, channels, buffer_size)
        self._dry: list[np.ndarray] = []

    def _take_dry(self, count: int) -> np.ndarray:
        joined = _concat(self._dry, self._stream["channels"])
        self._dry = [joined[:, count:]]
        return joined[:, :count]

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        self._dry.append(audio)
        processed = self._stage._push(audio)
        return self._combine(processed, self._take_dry(processed.shape[1])).astype(np.float32)

    def _finish_aligned(self, owed: int) -> np.ndarray:
        processed = self._stage._finish()
        return self._combine(processed, self._take_dry(processed.shape[1])).astype(np.float32)

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        stage = as_stage(self.plugin)
        stage.reset()
        processed = stage._process_whole(audio, sample_rate, buffer_size)
        return self._combine(processed, audio).astype(np.float32)


class Lane:
    """Breakpoints ``[(seconds, value), ...]`` for one parameter, interpolated in time.

    Parameters
    ----------
    points : sequence of (float, float)
        Times in seconds (ascending) and values. Before the first point the
        first value holds; after the last, the last.
    interpolation : {"linear", "log"}, optional
        "log" interpolates geometrically (equal ratios per second), the
        natural choice for frequencies; it needs positive values.
    """

    def __init__(self, points: Sequence[Sequence[float]], interpolation: str = "linear") -> None:
        try:
            pts = [(float(t), float(v)) for t, v in points]
        except (TypeError, ValueError):
            raise ParameterError("automation points are [[seconds, value], ...] pairs of numbers") from None
        if not pts:
            raise ParameterError("an automation lane needs at least one [seconds, value] point")
        if not all(math.isfinite(t) and math.isfinite(v) for t, v in pts):
            raise ParameterError("automation points must be finite numbers (no NaN or infinity)")
        times = [t for t, _ in pts]
        if any(b < a for a, b in zip(times, times[1:], strict=False)) or times[0] < 0:
            raise ParameterError("automation times must start at 0 s or later and not go backwards")
        if interpolation not in ("linear", "log"):
            raise ParameterError(f"interpolation {interpolation!r} is not known: use linear or log")
        if interpolation == "log" and any(v <= 0 for _, v in pts):
            raise ParameterError("log interpolation needs positive values; use linear")
        self.times = np.array(times)
        self.values = np.array([v for _, v in pts])
        self.interpolation = interpolation

    def __call__(self, seconds: float) -> float:
        """The value at ``seconds``."""
        if self.interpolation == "log":
            return float(np.exp(np.interp(seconds, self.times, np.log(self.values))))
        return float(np.interp(seconds, self.times, self.values))

    def points(self) -> list[list[float]]:
        """The breakpoints as ``[[seconds, value], ...]``."""
        return [[float(t), float(v)] for t, v in zip(self.times, self.values, strict=False)]


class Automate(_Wrapper):
    """Change any numeric parameter of any plugin over time.

    Every ``block_ms`` the parameters are set from their lanes at the block's
    start time, then the block is processed. Time is the absolute time of the
    stream (samples since reset), not of calls, so streaming equals the
    whole-buffer call. When the stream ends (flush, the end of a whole-buffer
    call, or a reset of a stream cut short) the plugin gets back the values
    it had when the stream began.

    Parameters
    ----------
    plugin : Plugin or pedalboard plugin
        Ours, a built-in or a VST3 (parameters by their Python names).
    lanes : mapping
        Parameter name → ``[(seconds, value), ...]`` or a :class:`Lane`.
        Names ending in ``_hz`` interpolate logarithmically by default.
    block_ms : float, optional
        Update interval. The default, 1 ms, keeps each step of a fast ramp
        below audibility: a 20 dB fade over 2 s moves 0.01 dB per step, and
        a 1 kHz update rate puts any residual stepping above most programme
        energy, while the per-call overhead stays under 10 % for built-ins.

    Examples
    --------
    >>> import clarity_fx as cfx, pedalboard
    >>> fade_in = cfx.Automate(pedalboard.Gain(), {"gain_db": [(0.0, -20.0), (2.0, 0.0)]})
    """

    block_ms = Param(1.0, unit="ms", minimum=0.05, maximum=1000.0, help="Parameter update interval.")

    def __init__(self, plugin: Any, lanes: Mapping[str, Any], block_ms: float = 1.0) -> None:
        super().__init__(block_ms=block_ms)
        self.plugin = plugin
        self.lanes: dict[str, Lane] = {}
        known = _numeric_params(plugin)
        for name, lane in lanes.items():
            if name not in known:
                raise ParameterError(
                    f"{type(plugin).__name__} has no numeric parameter {name!r}{suggest(name, known)}"
                )
            if not isinstance(lane, Lane):
                if isinstance(lane, Mapping):
                    lane = Lane(lane.get("points", []), lane.get("interpolation", "linear"))
                else:
                    lane = Lane(lane, "log" if name.endswith("_hz") else "linear")
            for value in lane.values:
                _check_setting(plugin, name, float(value))
            self.lanes[name] = lane
        #: Whole-number parameters of ours move in steps: the lane's value is rounded.
        self._whole = {n for n in self.lanes
                       if isinstance(plugin, Plugin) and type(plugin).params()[n].kind is int}

    def __repr__(self) -> str:
        return f"Automate({self.plugin!r}, {{{', '.join(self.lanes)}}})"

    def _step(self, sample_rate: float) -> int:
        return max(1, int(round(self.block_ms * 1e-3 * sample_rate)))

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._restore()  # a stream that was never finished: its values go first
        self._saved = {name: getattr(self.plugin, name) for name in self.lanes}
        self._step_n = self._step(sample_rate)
        self._stage = as_stage(self.plugin)
        # A native stage is fed exactly one update interval per call.
        self._stage._start_stream(
            sample_rate, channels, self._step_n if is_native(self.plugin) else buffer_size
        )
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._blocks_done = 0

    def _apply(self, block_index: int) -> None:
        seconds = block_index * self._step_n / self._stream["rate"]
        for name, lane in self.lanes.items():
            value = lane(seconds)
            if name in self._whole:
                value = round(value)
            try:
                setattr(self.plugin, name, value)
            except ValueError as err:
                raise ParameterError(f"automation of {name} at {seconds:.3f} s: {err}") from None

    def _run(self, audio: np.ndarray) -> list[np.ndarray]:
        outs = []
        step = self._step_n
        for start in range(0, audio.shape[1], step):
            self._apply(self._blocks_done)
            outs.append(self._stage._push(audio[:, start : start + step]))
            self._blocks_done += 1
        return outs

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        channels, step = self._stream["channels"], self._step_n
        if audio.shape[1]:
            self._pending.append(audio)
            self._pending_len += audio.shape[1]
        if self._pending_len < step:
            return _empty(channels)
        joined = _concat(self._pending, channels)
        whole = (joined.shape[1] // step) * step
        rest = joined[:, whole:]
        self._pending, self._pending_len = [rest], rest.shape[1]
        return _concat(self._run(joined[:, :whole]), channels)

    def _finish_aligned(self, owed: int) -> np.ndarray:
        channels = self._stream["channels"]
        outs = self._run(_concat(self._pending, channels)) if self._pending_len else []
        self._pending, self._pending_len = [], 0
        self._apply(self._blocks_done)  # the tail is processed with the values at its time
        outs.append(self._stage._finish())
        self._restore()
        return _concat(outs, channels)

    def _restore(self) -> None:
        """Give the plugin back the values it had when the stream began."""
        saved = self.__dict__.pop("_saved", None)
        for name, value in (saved or {}).items():
            setattr(self.plugin, name, value)

    def _reset_stream(self) -> None:
        self._restore()  # a stream cut short (an error, an abandoned generator) leaves no values behind
        super()._reset_stream()

    def automation_points(self) -> dict[str, list[list[float]]]:
        """Lanes as plain data, for presets."""
        return {name: lane.points() for name, lane in self.lanes.items()}


def _check_setting(plugin: Any, name: str, value: float) -> None:
    """Refuse a breakpoint that the same static setting would be refused for (range, type, float32)."""
    from .registry import _check_builtin_value, get_type, type_name_of

    where = f"{name} breakpoint {value:g}"
    if isinstance(plugin, Plugin):
        try:
            type(plugin).params()[name].validate(value)
        except ParameterError as err:
            raise ParameterError(f"{where}: {err}") from None
        return
    kind = type_name_of(plugin)
    if kind != "vst3":
        spec = get_type(kind).params.get(name) if kind in _registered() else None
        if spec is not None:
            try:
                _check_builtin_value(kind, spec, value)
            except ParameterError as err:
                raise ParameterError(f"{where}: {err}") from None
        return
    before = getattr(plugin, name)
    try:  # a VST3 checks its own ranges when a value is set; give the value back at once
        setattr(plugin, name, value)
    except ValueError as err:
        raise ParameterError(f"{where}: {str(err).splitlines()[0]}") from None
    finally:
        setattr(plugin, name, before)


def _registered() -> set[str]:
    from .registry import processor_types

    return set(processor_types())


def _numeric_params(plugin: Any) -> list[str]:
    if isinstance(plugin, Plugin):
        return [n for n, p in plugin.params().items() if p.kind in (float, int)]
    if hasattr(plugin, "parameters") and is_native(plugin) and hasattr(plugin, "reported_latency_samples"):
        return list(plugin.parameters)  # VST3: the plugin's own parameter names
    names = []
    for name in dir(type(plugin)):
        attr = getattr(type(plugin), name, None)
        if isinstance(attr, property) and attr.fset is not None and not name.startswith("_"):
            try:
                value = getattr(plugin, name)
            except Exception:  # noqa: BLE001
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                names.append(name)
    return names
