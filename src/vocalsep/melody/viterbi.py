"""Streaming Viterbi decoding with a banded transition matrix, in memory that does not grow with the input.

``librosa.sequence.viterbi`` keeps a (frames x states) float64 value matrix and a pointer
matrix for the whole input: 1.3 GB for an hour of CREPE frames (360 000 x 360). This decoder
keeps one value vector and the back-pointers of the frames whose state is not yet decided.
A frame is decided once the best paths into *every* current state pass through the same state
there: whatever comes later, the overall best path goes through it too, so the decided prefix
equals the whole-input decoding. Survivor paths merge within a few dozen frames on sung
pitch; if they have not merged after ``max_pending`` frames (e.g. long flat noise), the oldest
frames are decided along the path of the currently best state (fixed-lag decoding), which is
the only place the result may differ from whole-input decoding.
"""

from __future__ import annotations

import numpy as np


class ViterbiStream:
    """Most likely state sequence of a stream of frame log-likelihoods.

    Gives the same path as ``librosa.sequence.viterbi(prob, transition)`` (uniform initial
    distribution, same tie-breaking: the lowest state index among equal scores), whose
    log-domain recursion it repeats: ``log(transition + tiny)`` inside the band, and one
    constant ``log(tiny)`` for every jump outside it.

    Parameters
    ----------
    transition : ndarray, shape (states, states)
        Row-stochastic; ``transition[i, j]`` is zero wherever ``|i - j| >= width``.
    width : int
        Band half-width: the transition is non-zero only for ``|i - j| < width``.
    max_pending : int
        Undecided frames kept before the oldest are decided by fixed-lag decoding.
    check_every : int
        Frames between attempts to find where the survivor paths merge.
    """

    def __init__(self, transition: np.ndarray, width: int, *, max_pending: int = 30000,
                 check_every: int = 256) -> None:
        states = transition.shape[0]
        tiny = np.finfo(np.float64).tiny
        log_trans = np.log(transition + tiny)
        self.states, self.width = states, width
        offsets = np.arange(-(width - 1), width)  # candidate source i = j + offset, ascending i
        sources = np.arange(states)[:, None] + offsets[None, :]
        inside = (sources >= 0) & (sources < states)
        self.sources = np.clip(sources, 0, states - 1)
        # band[j, k] = log_trans[j + offsets[k], j]; sources outside the matrix can never win
        self.band = np.where(inside, log_trans[self.sources, np.arange(states)[:, None]], -np.inf)
        self.outside = float(np.log(tiny))  # every out-of-band transition has this log-probability
        self.log_init = np.log(np.full(states, 1.0 / states) + tiny)
        self.max_pending, self.check_every = max_pending, check_every
        self.value: np.ndarray | None = None
        self.pointers: list[np.ndarray] = []  # pointers[k]: state at frame first+k+1 -> state at first+k
        self.since_check = 0

    def push(self, log_prob: np.ndarray) -> np.ndarray:
        """Feed (frames, states) log-likelihoods; return the states of frames decided now, in order."""
        for row in np.asarray(log_prob, dtype=np.float64):
            self._step(row)
        self.since_check += len(log_prob)
        decided: list[np.ndarray] = []
        if self.since_check >= self.check_every:
            self.since_check = 0
            decided.append(self._decide_merged())
            if len(self.pointers) > self.max_pending:
                decided.append(self._decide_oldest(len(self.pointers) - self.max_pending // 2))
        return np.concatenate(decided) if decided else np.zeros(0, dtype=np.int64)

    def finish(self) -> np.ndarray:
        """The states of all remaining frames (traced back from the best final state)."""
        if self.value is None:
            return np.zeros(0, dtype=np.int64)
        return self._trace(int(np.argmax(self.value)), len(self.pointers) + 1, drop=len(self.pointers))

    def _step(self, row: np.ndarray) -> None:
        if self.value is None:
            self.value = row + self.log_init
            return
        candidates = self.value[self.sources] + self.band  # (states, 2 * width - 1)
        best = np.argmax(candidates, axis=1)
        pointer = self.sources[np.arange(self.states), best]
        score = candidates[np.arange(self.states), best]
        # A jump out of the band costs log(tiny) (about -708): it wins only where the best
        # state overall lies outside j's band and leads by more than that.
        top = int(np.argmax(self.value))
        far = np.abs(np.arange(self.states) - top) >= self.width
        jump = far & (self.value[top] + self.outside > score)
        pointer = np.where(jump, top, pointer)
        score = np.where(jump, self.value[top] + self.outside, score)
        self.pointers.append(pointer.astype(np.int16 if self.states < 32768 else np.int32))
        self.value = row + score

    def _decide_merged(self) -> np.ndarray:
        """Decide the frames before the latest point where all survivor paths coincide."""
        states = np.arange(self.states)
        for k in range(len(self.pointers) - 1, -1, -1):
            states = self.pointers[k][states]
            if np.all(states == states[0]):  # every path passes through states[0] at frame first+k
                return self._trace(int(states[0]), k + 1, drop=k + 1)
        return np.zeros(0, dtype=np.int64)

    def _decide_oldest(self, count: int) -> np.ndarray:
        """Fixed-lag fallback: decide ``count`` oldest frames along the currently best path."""
        state = int(np.argmax(self.value))
        for k in range(len(self.pointers) - 1, count - 1, -1):
            state = int(self.pointers[k][state])
        return self._trace(state, count, drop=count)

    def _trace(self, state: int, frames: int, *, drop: int) -> np.ndarray:
        """States of the first ``frames`` pending frames, the last of them being ``state``; forget ``drop`` pointers."""
        path = np.empty(frames, dtype=np.int64)
        path[-1] = state
        for k in range(frames - 2, -1, -1):
            path[k] = self.pointers[k][path[k + 1]]
        del self.pointers[:drop]
        return path
