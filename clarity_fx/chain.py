"""``Chain`` and ``Mix``: host clarity-fx, pedalboard built-in and VST3 plugins together.

A :class:`Chain` runs its plugins in series. Runs of consecutive native
plugins (pedalboard built-ins, ``VST3Plugin``, ``pedalboard.Pedalboard``) are
handed to one real ``pedalboard.Pedalboard``, so they keep native speed.

Latency is compensated by construction: every stage returns *aligned* audio
(fewer samples while its latency fills), and :meth:`Plugin.flush` drains each
stage in turn, so streaming plus flush equals the whole-buffer call.

One way of feeding a native plugin serves streaming and the whole-buffer call alike, so the two
give the same samples whatever the chunk sizes, even from a plugin whose output depends on the
blocks it is handed (a block-rate LFO, a per-block analysis, pedalboard's MP3 and GSM codecs):

- the plugin sees blocks of ``buffer_size`` samples for the whole stream, whatever chunks the
  caller passes; chunks are buffered here, which only delays when samples come out, never which
  samples come out. A plugin in :data:`CALL_SENSITIVE` (or a board holding one) gets one unit
  of ``buffer_size`` per call (a few blocks when ``buffer_size`` is not more than the channel
  count, see :meth:`NativeStage._call_unit`); others get all the whole units at hand in one
  call, which pedalboard cuts into the same blocks. A JUCE plugin re-prepares, and loses its
  state, when the block it is given grows between ``reset=False`` calls: one block size for the
  whole stream also avoids that;
- the last, partial unit is padded with silence, and the plugin is then drained with units of
  silence until it has returned as many samples as it was given (pedalboard drops a stream's
  tail: issue #244, closed with "pad with silence").

A whole-buffer call runs that same stream. pedalboard's own whole-buffer call is one call that
ends on a short block, which such a plugin answers with other samples than a stream can give:
tests/vst3's ClarityTestBlock by 8e-4, pedalboard's GSM codec by 0.35
(``benchmarks/bench_streaming.py``); pedalboard's Reverb and MP3 codec give the same samples
either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, NamedTuple, overload

import numpy as np
import pedalboard

from .plugin import Plugin, _empty

__all__ = ["Chain", "Mix", "Node", "as_stage", "children_of", "is_native", "is_series", "upstream_of", "walk"]

#: Natives whose output depends on where calls begin and end, not only on the blocks (pedalboard's
#: GSM codec re-buffers each call, its MP3 codec too; a VST3 may): a stage holding one, at any depth,
#: is fed one unit per call. Others get all the whole units at hand in one call, which pedalboard
#: cuts into the same ``buffer_size`` blocks itself: the same samples, without a Python round trip
#: per block (about 250 us a call for a board of five built-ins: 20 % of its CPU time at 8192).
CALL_SENSITIVE = (pedalboard.GSMFullRateCompressor, pedalboard.MP3Compressor, pedalboard.ExternalPlugin)
#: Give up draining a native plugin after this many blocks of silence.
MAX_DRAIN_BLOCKS = 256


def is_native(plugin: Any) -> bool:
    """Whether ``plugin`` is a pedalboard (C++) plugin: a built-in, VST3 or board."""
    return isinstance(plugin, pedalboard.Plugin)


def _check_item(item: Any) -> Any:
    if item is None or isinstance(item, Plugin) or is_native(item):
        return item
    raise TypeError(
        f"a Chain holds clarity_fx or pedalboard plugins, not {type(item).__name__}; "
        "wrap Python code in a clarity_fx.Plugin subclass"
    )


class NativeStage(Plugin):
    """Adapter that streams a native pedalboard plugin under the stage protocol.

    Parameters
    ----------
    plugin : pedalboard.Plugin
        A built-in, a ``VST3Plugin`` or a ``pedalboard.Pedalboard``.

    Notes
    -----
    A plugin that refuses mono (many VST3 effects are stereo-only) is fed the
    mono signal on both channels and its two outputs are averaged back to one.

    The plugin sees blocks of exactly ``buffer_size`` samples, so a stream of
    shorter chunks returns nothing until a block is full; to get samples back
    from every call, stream with ``buffer_size`` equal to the chunk size.
    """

    def __init__(self, plugin: Any) -> None:
        super().__init__()
        self.plugin = plugin

    def __repr__(self) -> str:
        return f"NativeStage({self.plugin!r})"

    def children(self) -> list[Any]:
        """The native plugin it adapts."""
        return [self.plugin]

    def latency_for(self, sample_rate: float) -> int:
        return int(getattr(self.plugin, "reported_latency_samples", 0) or 0)

    def _reset_stream(self) -> None:
        self.plugin.reset()

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        _check_nyquist(self.plugin, sample_rate, getattr(self, "origins", {}))
        self.plugin.reset()
        self._pending: list[np.ndarray] = []
        self._pending_len = 0
        self._unit = self._call_unit(buffer_size, channels)
        self._one_call = not self._holds(CALL_SENSITIVE)

    def _holds(self, kinds: tuple[type, ...]) -> bool:
        """Whether the plugin is, or holds at any depth, one of ``kinds``."""

        def holds(plugin: Any) -> bool:
            if isinstance(plugin, pedalboard.PluginContainer):  # Pedalboard, pedalboard.Chain/Mix
                return any(holds(p) for p in plugin)
            return isinstance(plugin, kinds)

        return holds(self.plugin)

    def _call(self, block: np.ndarray, rate: float, buffer_size: int, reset: bool) -> np.ndarray:
        """Process, feeding mono to a stereo-only plugin (a common VST3) as two equal channels."""
        if block.shape[0] == 1 and getattr(self, "_mono_as_stereo", False):
            out = self.plugin.process(np.repeat(block, 2, axis=0), rate, buffer_size=buffer_size, reset=reset)
            return out.mean(axis=0, keepdims=True)
        try:
            return self.plugin.process(block, rate, buffer_size=buffer_size, reset=reset)
        except ValueError as err:
            if block.shape[0] != 1 or "1-channel" not in str(err):
                raise
            self._mono_as_stereo = True
            return self._call(block, rate, buffer_size, reset)

    def _run(self, unit: np.ndarray) -> np.ndarray:
        """One call to pedalboard: one unit, the stream's ``buffer_size`` blocks, state kept."""
        s = self._stream
        return self._call(unit, s["rate"], s["block"], reset=False)

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        unit = self._unit
        if audio.shape[1]:
            self._pending.append(audio)
            self._pending_len += audio.shape[1]
        if self._pending_len < unit:
            return _empty(self._stream["channels"])
        joined = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
        whole = (self._pending_len // unit) * unit
        if self._one_call:
            out = self._run(joined[:, :whole])  # pedalboard cuts it into the same blocks
        else:  # where calls begin and end matters: one unit per call, whatever the chunks
            outs = [self._run(joined[:, i : i + unit]) for i in range(0, whole, unit)]
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)
        rest = joined[:, whole:]
        self._pending, self._pending_len = ([rest], rest.shape[1]) if rest.shape[1] else ([], 0)
        return out

    @staticmethod
    def _call_unit(buffer_size: int, channels: int) -> int:
        """Samples handed to pedalboard per call: ``buffer_size``, or enough whole blocks of it.

        pedalboard tells a block's layout by its shape, so a (2, 1) or (2, 2) block of a stereo
        stream (or of a mono one fed to a stereo-only plugin as two channels) would be read as
        mono or refused. With so tiny a ``buffer_size`` a call therefore carries several blocks,
        which pedalboard cuts into ``buffer_size`` pieces itself.
        """
        channels = max(channels, 2)
        return buffer_size * -(-(channels + 1) // buffer_size) if buffer_size <= channels else buffer_size

    def _finish_aligned(self, owed: int) -> np.ndarray:
        channels, unit = self._stream["channels"], self._unit
        outs: list[np.ndarray] = []
        got = 0
        if self._pending_len:
            # The last, partial unit is padded with silence: every call is one whole unit.
            block = np.zeros((channels, unit), dtype=np.float32)
            block[:, : self._pending_len] = np.concatenate(self._pending, axis=1)
            self._pending, self._pending_len = [], 0
            outs.append(self._run(block))
            got += outs[-1].shape[1]
        silence = np.zeros((channels, unit), dtype=np.float32)
        # The budget is in samples (MAX_DRAIN_BLOCKS default-sized blocks), whatever the block size.
        for _ in range(max(MAX_DRAIN_BLOCKS, -(-MAX_DRAIN_BLOCKS * 8192 // unit))):
            if got >= owed:
                break
            outs.append(self._run(silence))
            got += outs[-1].shape[1]
        else:
            raise RuntimeError(f"{self.plugin!r} did not return its tail after {MAX_DRAIN_BLOCKS} blocks")
        if not outs:
            return _empty(channels)
        return np.concatenate(outs, axis=1)[:, :owed]

    # No _process_whole of its own: the whole-buffer call is Plugin's, start + push + finish, the
    # very stream above, so it feeds the plugin the same calls a stream of any chunks does.


def _check_nyquist(plugin: Any, sample_rate: float, origins: dict[int, str] | None = None) -> None:
    """Refuse a built-in filter whose corner the audio's rate cannot hold (ours check their own).

    The parameters checked are :data:`clarity_fx.registry.BUILTIN_BELOW_NYQUIST`, the list a
    preset's frequencies are resolved by (:mod:`clarity_fx.rates`). ``origins`` maps ``id(plugin)``
    to the preset, stage and line it was built from, for the message.
    """
    origins = origins or {}
    from .registry import BUILTIN_BELOW_NYQUIST, snake_case

    plugins = list(plugin) if isinstance(plugin, pedalboard.PluginContainer) else [plugin]
    for item in plugins:
        if isinstance(item, pedalboard.PluginContainer):
            _check_nyquist(item, sample_rate, origins)
            continue
        kind = snake_case(type(item).__name__)
        for name in BUILTIN_BELOW_NYQUIST.get(kind, ()):
            cutoff = float(getattr(item, name))
            if cutoff >= sample_rate / 2:
                from .errors import ParameterError

                origin = origins.get(id(item))
                raise ParameterError(
                    f"{origin + ': ' if origin else ''}{kind}.{name}={cutoff:g} Hz is at or above "
                    f"Nyquist ({sample_rate / 2:g} Hz) for this {sample_rate:g} Hz audio; lower it"
                    + ("; or load the preset with sample_rate=RATE" if origin else "")
                )


def as_stage(item: Any) -> Plugin:
    """Return ``item`` as a stage speaking the internal protocol."""
    return item if isinstance(item, Plugin) else NativeStage(item)


# --------------------------------------------------------------------------- the one walk
class Node(NamedTuple):
    """One plugin met by :func:`walk`.

    Attributes
    ----------
    path : tuple of int
        Indices from the root, one per level, each into the parent's
        ``children()`` (so ``None`` items of a Chain are not counted). The
        root's path is ``()``.
    plugin : object
        The plugin: ours, a pedalboard built-in, a VST3 or a container.
    parent : object or None
        The plugin that holds it (None for the root).
    """

    path: tuple[int, ...]
    plugin: Any
    parent: Any


def children_of(item: Any) -> list[Any]:
    """The plugins directly inside ``item``: its ``children()``, or a native board's contents.

    A ``pedalboard.Pedalboard`` (and ``pedalboard.Mix``) is a list of plugins;
    any other native plugin, and ``None``, holds none.
    """
    if isinstance(item, Plugin):
        return list(item.children())
    if isinstance(item, pedalboard.PluginContainer):
        return [p for p in item if p is not None]
    return []


def walk(root: Any) -> Iterator[Node]:
    """Every plugin in ``root``, ``root`` first, depth first in processing order.

    The one traversal of nested containers: render's pre-pass and key lookup,
    mastering, the CLI's ``--plot`` and preset saving all go through it.

    Parameters
    ----------
    root : Chain, Plugin, pedalboard plugin or list
        What to walk; a list is walked as a Chain of its items.

    Yields
    ------
    Node
        ``(path, plugin, parent)`` for each plugin, the root included.

    Examples
    --------
    >>> import pedalboard, clarity_fx as cfx
    >>> chain = cfx.Chain([pedalboard.Gain(), cfx.Blend(cfx.Chain([pedalboard.HighpassFilter()]))])
    >>> [(node.path, type(node.plugin).__name__) for node in cfx.walk(chain)]
    [((), 'Chain'), ((0,), 'Gain'), ((1,), 'Blend'), ((1, 0), 'Chain'), ((1, 0, 0), 'HighpassFilter')]
    """
    if isinstance(root, (list, tuple)):
        root = Chain(root)
    yield from _walk(root, (), None)


def _walk(item: Any, path: tuple[int, ...], parent: Any) -> Iterator[Node]:
    yield Node(path, item, parent)
    for index, child in enumerate(children_of(item)):
        yield from _walk(child, (*path, index), item)


def is_series(item: Any) -> bool:
    """Whether ``item``'s children run one after another (a Chain), not side by side (a Mix)."""
    if isinstance(item, Chain):
        return not isinstance(item, Mix)
    return isinstance(item, pedalboard.Chain)  # pedalboard.Pedalboard is one; pedalboard.Mix is not


def upstream_of(root: Any, path: tuple[int, ...]) -> Chain:
    """The plugins whose output the plugin at ``path`` receives, as one series Chain.

    For every series ancestor (a Chain) they are the items before the branch
    that leads to ``path``; a Mix branch, a wrapper's plugin (``Blend``,
    ``Automate``) and a compressor's key chain receive their holder's input,
    so those levels add nothing.

    Parameters
    ----------
    root : Chain, Plugin or list
        What the path is relative to (as given to :func:`walk`).
    path : tuple of int
        A :attr:`Node.path`.

    Returns
    -------
    Chain
        Streaming the input through it gives exactly the audio the plugin at
        ``path`` is fed (empty for the root's direct input).
    """
    if isinstance(root, (list, tuple)):
        root = Chain(root)
    before: list[Any] = []
    item = root
    for index in path:
        inner = children_of(item)
        if is_series(item):
            before.extend(inner[:index])
        item = inner[index]
    return Chain(before)


def _concat(parts: list[np.ndarray], channels: int) -> np.ndarray:
    parts = [p for p in parts if p.shape[1]]
    if not parts:
        return _empty(channels)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class Chain(Plugin, MutableSequence):
    """Plugins in series: clarity-fx processors, pedalboard built-ins and VST3 alike.

    A Chain acts like a list (``append``, ``insert``, indexing, slicing,
    ``len``, iteration) and like a plugin (``process``, ``__call__``,
    ``reset``, ``flush``). ``None`` items pass audio through untouched.

    Parameters
    ----------
    plugins : iterable, optional
        ``clarity_fx.Plugin`` objects, pedalboard plugins (built-ins,
        ``VST3Plugin``, ``Pedalboard``, ``Chain``, ``Mix``), other Chains,
        or ``None``.

    Examples
    --------
    >>> import numpy as np, pedalboard, clarity_fx as cfx
    >>> chain = cfx.Chain([pedalboard.HighpassFilter(80), pedalboard.Gain(-6)])
    >>> chain(np.zeros((2, 480), np.float32), 48000).shape
    (2, 480)
    """

    def __init__(self, plugins: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._items: list[Any] = [_check_item(p) for p in (plugins or [])]
        self._stages: list[Plugin] = []
        #: ``id(native plugin)`` -> the preset, stage and line it was built from (messages only).
        self.origins: dict[int, str] = {}

    # ------------------------------------------------------------------ list behaviour
    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Chain: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(self._items[index])
        return self._items[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            self._items[index] = [_check_item(v) for v in value]
        else:
            self._items[index] = _check_item(value)

    def __delitem__(self, index: Any) -> None:
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def insert(self, index: int, value: Any) -> None:
        """Insert a plugin before ``index``."""
        self._items.insert(index, _check_item(value))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}([{', '.join(repr(p) for p in self._items)}])"

    def __eq__(self, other: object) -> bool:
        return self is other

    def children(self) -> list[Any]:
        """The items, in order, without ``None``."""
        return [p for p in self._items if p is not None]

    __hash__ = Plugin.__hash__

    # ------------------------------------------------------------------ stages
    def _build_stages(self) -> list[Plugin]:
        """Group consecutive native plugins into one ``pedalboard.Pedalboard``."""
        stages: list[Plugin] = []
        run: list[Any] = []

        def close_run() -> None:
            if run:
                native = run[0] if len(run) == 1 else pedalboard.Pedalboard(list(run))
                stage = NativeStage(native)
                if self.origins:
                    stage.origins = self.origins  # a preset's natives, for messages
                stages.append(stage)
                run.clear()

        for item in self._items:
            if item is None:
                continue
            if is_native(item):
                run.append(item)
            else:
                close_run()
                stages.append(item)
        close_run()
        return stages

    def latency_for(self, sample_rate: float) -> int:
        """Sum of the stages' latencies (native built-ins report none)."""
        return sum(as_stage(p).latency_for(sample_rate) for p in self._items if p is not None)

    def _reset_stream(self) -> None:
        for item in self._items:
            if item is not None:
                item.reset()
        self._stages = []

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        self._stages = self._build_stages()
        for stage in self._stages:
            stage._start_stream(sample_rate, channels, buffer_size)

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        for stage in self._stages:
            audio = stage._push(audio)
        return audio

    def _finish_aligned(self, owed: int) -> np.ndarray:
        channels = self._stream["channels"]
        audio = _empty(channels)
        for stage in self._stages:
            audio = _concat([stage._push(audio), stage._finish()], channels)
        return audio

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        self._stages = self._build_stages()
        for stage in self._stages:
            stage.reset()
            audio = stage._process_whole(audio, sample_rate, buffer_size)
        return audio


class Mix(Chain):
    """Parallel branches summed at unity gain, like ``pedalboard.Mix``.

    Each branch may be any plugin (use a :class:`Chain` for a series branch).
    Branch latencies are compensated: the sum is formed only from samples that
    every branch has returned.
    """

    def _build_stages(self) -> list[Plugin]:
        return [as_stage(item) for item in self._items if item is not None]

    def latency_for(self, sample_rate: float) -> int:
        """The largest branch latency."""
        return max((as_stage(p).latency_for(sample_rate) for p in self._items if p is not None), default=0)

    def _start(self, sample_rate: float, channels: int, buffer_size: int) -> None:
        super()._start(sample_rate, channels, buffer_size)
        self._fifos: list[list[np.ndarray]] = [[] for _ in self._stages]

    def _emit(self, outs: list[np.ndarray]) -> np.ndarray:
        channels = self._stream["channels"]
        if not self._stages:
            return outs[0] if outs else _empty(channels)
        joined = []
        for fifo, out in zip(self._fifos, outs, strict=False):
            fifo.append(out)
            joined.append(_concat(fifo, channels))
        ready = min(j.shape[1] for j in joined)
        total = np.zeros((channels, ready), dtype=np.float32)
        for i, j in enumerate(joined):
            total += j[:, :ready]
            self._fifos[i] = [j[:, ready:]]
        return total

    def _push_aligned(self, audio: np.ndarray) -> np.ndarray:
        if not self._stages:
            return audio
        return self._emit([stage._push(audio) for stage in self._stages])

    def _finish_aligned(self, owed: int) -> np.ndarray:
        if not self._stages:
            return _empty(self._stream["channels"])
        return self._emit([stage._finish() for stage in self._stages])

    def _process_whole(self, audio: np.ndarray, sample_rate: float, buffer_size: int) -> np.ndarray:
        self._stages = self._build_stages()
        if not self._stages:
            return audio.copy()
        total = np.zeros_like(audio)
        for stage in self._stages:
            stage.reset()
            total += stage._process_whole(audio, sample_rate, buffer_size)
        return total
