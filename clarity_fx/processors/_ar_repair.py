"""The streaming frame of the AR-model repair processors: Declick and Declip.

Both work hop by hop on a grid fixed to the stream's first sample, each hop
needing ``lookahead`` samples beyond it, so the output is a fixed function of
the input whatever the block sizes: a hop is repaired as soon as its
look-ahead has arrived, and handed out ``hop + lookahead`` samples late (the
latency). Before the first sample the history is digital silence.
"""

from __future__ import annotations

import numpy as np

from ..plugin import Plugin, StreamState

__all__ = ["HopRepair"]


class HopRepair(Plugin):
    """Base of the hop-grid repair processors: buffering, latency and output queue.

    A subclass defines :meth:`_geometry` (window, hop and look-ahead in
    samples) and :meth:`_repair` (restore ``hops`` hops of one channel's
    work buffer in place).
    """

    #: The parameter, in ms, that bounds what one repair may span (``max_click_ms``, ``max_run_ms``).
    reach_param = ""

    def _geometry(self, sample_rate: float) -> tuple[int, int, int]:
        """``(window, hop, lookahead)`` in samples at ``sample_rate``.

        The look-ahead holds the longest repair plus ``2p`` samples of context on
        its far side (``p`` the AR order); the window is at least ``4p`` and holds
        a hop, the look-ahead and ``p`` more.
        """
        p = self.ar_order
        reach = max(1, round(getattr(self, self.reach_param) * 1e-3 * sample_rate))
        lookahead = reach + 2 * p
        window = max(round(self.window_ms * 1e-3 * sample_rate), 4 * p)
        hop = max(window // 2, 1)
        window = max(window, hop + lookahead + p)
        return window, hop, lookahead

    def _repair(
        self, work: np.ndarray, raw: np.ndarray, start: int, hops: int, sample_rate: float, memory: np.ndarray
    ) -> int:
        """Repair ``hops`` hops of ``work`` (float64, one channel) from index ``start``; return flags.

        ``raw`` is the input as it came (same indexing), ``memory`` a small
        per-channel float64 array that lives as long as the stream.
        """
        raise NotImplementedError

    def latency_for(self, sample_rate: float) -> int:
        _, hop, lookahead = self._geometry(sample_rate)
        return hop + lookahead

    @property
    def repaired_samples(self) -> int:
        """How many samples (over all channels) the last stream flagged and re-estimated."""
        state = self._state
        return int(getattr(state, "flagged", 0)) if state is not None else 0

    def _init_state(self, state: StreamState) -> None:
        window, hop, lookahead = self._geometry(state.sample_rate)
        state.geometry = (window, hop, lookahead)
        history = 2 * window + hop + lookahead
        # work[:, 0] is stream sample state.origin; the history before 0 is silence.
        state.work = np.zeros((state.channels, history))
        state.raw = np.zeros((state.channels, history))  # the input as it came, for detection
        state.origin = -history
        state.next_hop = 0
        state.ready = [np.zeros((state.channels, hop + lookahead), dtype=np.float32)]
        state.ready_len = hop + lookahead
        state.flagged = 0
        state.memory = np.zeros((state.channels, 4))

    def process_block(self, block: np.ndarray, state: StreamState) -> np.ndarray:
        if "work" not in state:
            self._init_state(state)
        window, hop, lookahead = state.geometry
        n = block.shape[1]
        state.work = np.concatenate([state.work, block.astype(np.float64)], axis=1)
        state.raw = np.concatenate([state.raw, block.astype(np.float64)], axis=1)
        end = state.origin + state.work.shape[1]  # stream index one past the last sample held
        hops = max(0, (end - lookahead - state.next_hop) // hop)
        if hops:
            start = state.next_hop - state.origin
            for ch in range(state.channels):
                work = np.ascontiguousarray(state.work[ch])
                memory = state.memory[ch]
                state.flagged += self._repair(work, state.raw[ch], start, hops, state.sample_rate, memory)
                state.work[ch] = work
            state.ready.append(state.work[:, start : start + hops * hop].astype(np.float32))
            state.ready_len += hops * hop
            state.next_hop += hops * hop
            keep_from = state.next_hop - window - hop  # the next hop's model looks back a window
            drop = keep_from - state.origin
            if drop > 0:
                state.work = state.work[:, drop:]
                state.raw = state.raw[:, drop:]
                state.origin += drop
        ready = np.concatenate(state.ready, axis=1) if len(state.ready) > 1 else state.ready[0]
        out, rest = ready[:, :n], ready[:, n:]
        state.ready = [rest]
        state.ready_len -= n
        return np.ascontiguousarray(out)
