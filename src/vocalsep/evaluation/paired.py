"""Paired differences of two separators on the selection scores, with bootstrap intervals (issue 23).

Two systems scored on the same material differ far less between themselves than either varies from
track to track, so the comparison is paired: the difference is taken per track (MUSDB) or per clip
(MIR-1K), and the bootstrap resamples the material once for both systems. MUSDB resamples tracks and,
within each drawn track, its 1 s windows (the same window indices for both systems); MIR-1K resamples
clips, each keeping its length as its weight. Each replicate resamples MUSDB and MIR-1K independently,
so the mean of the scores gets its interval from the same replicates as the scores themselves.

Numpy only: the callers turn BSS Eval results into the arrays below.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vocalsep.errors import VocalsepError

#: The rule's floor: no single score may have its whole interval below this many dB.
WORST_SCORE_DB = -0.1


@dataclass(frozen=True)
class WindowedPair:
    """Per-window scores of systems A and B on the same tracks (MUSDB: BSS Eval v4, 1 s windows).

    Parameters
    ----------
    a, b : sequence of ndarray, one per track, shape (windows,)
        The two systems' scores of the same windows; NaN (or ±inf) where a window has no score,
        e.g. a silent reference. A track that must not count (a near-silent voice) is all NaN.
    """

    a: Sequence[np.ndarray]
    b: Sequence[np.ndarray]


@dataclass(frozen=True)
class ClipPair:
    """Per-clip scores of systems A and B on the same clips, weighted by length (MIR-1K GNSDR).

    Parameters
    ----------
    a, b : ndarray, shape (clips,)
        SDR of each clip. The mixture's SDR is left out: it is the same for both systems, so the
        difference of the two GNSDRs is the weighted mean of the SDR differences.
    lengths : ndarray, shape (clips,)
        Clip lengths (any unit): the weights of the length-weighted mean.
    """

    a: np.ndarray
    b: np.ndarray
    lengths: np.ndarray


@dataclass(frozen=True)
class PairedDifference:
    """One score's difference A − B as measured, and its bootstrap interval (dB)."""

    score: str
    difference: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class Comparison:
    """The paired differences of every score, their mean, and how the intervals were drawn."""

    scores: tuple[PairedDifference, ...]
    mean: PairedDifference
    replicates: int
    level: float
    seed: int


@dataclass(frozen=True)
class Decision:
    """The shipping rule's verdict and why."""

    ship: bool
    reason: str


def padded_windows(tracks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-track windows as one NaN-padded array, non-finite scores as NaN.

    Returns
    -------
    windows : ndarray, shape (tracks, most windows)
    counts : ndarray of int, shape (tracks,)
        Each track's number of windows (the padding is never drawn).
    """
    counts = np.array([np.size(track) for track in tracks], dtype=np.int64)
    windows = np.full((len(tracks), max(counts.max(initial=0), 1)), np.nan)
    for row, track in enumerate(tracks):
        values = np.asarray(track, dtype=np.float64).ravel()
        windows[row, : values.size] = np.where(np.isfinite(values), values, np.nan)
    return windows, counts


def track_medians(windows: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN, NaN where a track has no score (as ``bss_eval_track``)."""
    with warnings.catch_warnings():  # an all-NaN track is expected: it simply has no score
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows, axis=-1)


def windowed_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over tracks of (median over windows of A − median over windows of B).

    The reported MUSDB score is the median over tracks of these per-track medians; the difference
    of two such medians over 14 tracks hangs on whichever track is the middle one of each ranking
    and moves in jumps. Averaging the per-track differences lets every track count, while keeping
    the median over windows that makes BSS Eval v4 robust to a few degenerate windows.

    Parameters
    ----------
    a, b : ndarray, shape (..., tracks, windows)
        NaN where a window has no score. Tracks where either system has no score are left out.

    Returns
    -------
    ndarray, shape (...)
    """
    differences = track_medians(a) - track_medians(b)
    with warnings.catch_warnings():  # a replicate may draw only unscored tracks: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(differences, axis=-1)


def clip_difference(a: np.ndarray, b: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Length-weighted mean over clips of A − B (the difference of the two GNSDRs).

    Parameters
    ----------
    a, b, lengths : ndarray, shape (..., clips)
        Clips where either score is not finite are left out.

    Returns
    -------
    ndarray, shape (...)
    """
    differences = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    scored = np.isfinite(differences)
    weights = np.where(scored, lengths, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # no scored clip: NaN
        return (np.where(scored, differences, 0.0) * weights).sum(axis=-1) / weights.sum(axis=-1)


def resample_windows(counts: np.ndarray, replicates: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two-stage bootstrap indices: tracks with replacement, then each drawn track's windows.

    Parameters
    ----------
    counts : ndarray of int, shape (tracks,)
        Windows per track.

    Returns
    -------
    tracks : ndarray of int, shape (replicates, tracks)
    windows : ndarray of int, shape (replicates, tracks, most windows)
        Window indices into each drawn track; -1 past that track's count (padding, never scored).
    """
    n_tracks, widest = counts.size, max(int(counts.max(initial=0)), 1)
    tracks = rng.integers(0, n_tracks, size=(replicates, n_tracks))
    drawn_counts = counts[tracks][..., None]
    windows = np.floor(rng.random((replicates, n_tracks, widest)) * drawn_counts).astype(np.int64)
    return tracks, np.where(np.arange(widest) < drawn_counts, windows, -1)


def gather_windows(windows: np.ndarray, tracks: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The resampled windows of one system, NaN where ``indices`` is -1 (padding)."""
    drawn = windows[tracks[..., None], np.maximum(indices, 0)]
    return np.where(indices >= 0, drawn, np.nan)


def windowed_replicates(pairs: Mapping[str, WindowedPair], replicates: int,
                        rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each windowed score, all from the same draw of tracks and windows."""
    if not pairs:
        return {}
    padded = {name: (padded_windows(pair.a), padded_windows(pair.b)) for name, pair in pairs.items()}
    counts = shared_counts([count for (_, a), (_, b) in padded.values() for count in (a, b)])
    tracks, indices = resample_windows(counts, replicates, rng)
    return {name: windowed_difference(gather_windows(a, tracks, indices), gather_windows(b, tracks, indices))
            for name, ((a, _), (b, _)) in padded.items()}


def shared_counts(counts: list[np.ndarray]) -> np.ndarray:
    """The window counts all windowed scores share: one draw of tracks and windows serves them all."""
    if any(c.shape != counts[0].shape or np.any(c != counts[0]) for c in counts):
        raise VocalsepError("windowed scores must cover the same tracks with the same windows for both systems")
    return counts[0]


def clip_replicates(pairs: Mapping[str, ClipPair], replicates: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each clip score, all from the same draw of clips."""
    if not pairs:
        return {}
    arrays = {name: [np.asarray(x, dtype=np.float64).ravel() for x in (pair.a, pair.b, pair.lengths)]
              for name, pair in pairs.items()}
    sizes = {x.size for triple in arrays.values() for x in triple}
    if len(sizes) != 1:
        raise VocalsepError("clip scores must cover the same clips, with one length each, for both systems")
    size = sizes.pop()
    clips = rng.integers(0, size, size=(replicates, size))
    return {name: clip_difference(a[clips], b[clips], lengths[clips]) for name, (a, b, lengths) in arrays.items()}


def interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of the replicates (NaN replicates left out)."""
    tail = 50.0 * (1.0 - level)
    low, high = np.nanpercentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def measured_differences(windowed: Mapping[str, WindowedPair], clips: Mapping[str, ClipPair]) -> dict[str, float]:
    """Each score's difference A − B on the material as it is (no resampling)."""
    measured = {name: float(windowed_difference(padded_windows(p.a)[0], padded_windows(p.b)[0]))
                for name, p in windowed.items()}
    measured |= {name: float(clip_difference(np.asarray(p.a), np.asarray(p.b), np.asarray(p.lengths, dtype=np.float64)))
                 for name, p in clips.items()}
    return measured


def compare(
    windowed: Mapping[str, WindowedPair],
    clips: Mapping[str, ClipPair],
    *,
    replicates: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> Comparison:
    """Paired differences A − B of every score and of their mean, with bootstrap intervals.

    Parameters
    ----------
    windowed : mapping of score name to WindowedPair
        Scores over tracks of 1 s windows (MUSDB vocals, accompaniment): one draw of tracks and
        windows serves them all, so they must cover the same tracks and windows.
    clips : mapping of score name to ClipPair
        Length-weighted scores over clips (MIR-1K vocals, accompaniment GNSDR): one draw of clips.
    replicates : int
        Bootstrap replicates.
    level : float
        Coverage of the percentile intervals (0.9: the 5th to the 95th percentile).
    seed : int
        Seeds the one generator that draws everything: the same inputs and seed give the same intervals.

    Returns
    -------
    Comparison
        Scores in the order given (windowed first); ``mean`` is the unweighted mean of them all.
    """
    if set(windowed) & set(clips) or not (windowed or clips):
        raise VocalsepError("give each score once, windowed or by clip")
    rng = np.random.default_rng(seed)
    # MUSDB and MIR-1K are drawn independently within each replicate, MUSDB first
    drawn = windowed_replicates(windowed, replicates, rng) | clip_replicates(clips, replicates, rng)
    measured = measured_differences(windowed, clips)
    scores = tuple(PairedDifference(name, measured[name], *interval(drawn[name], level)) for name in drawn)
    mean_replicates = np.mean([drawn[name] for name in drawn], axis=0)
    mean = PairedDifference("mean", float(np.mean(list(measured.values()))), *interval(mean_replicates, level))
    return Comparison(scores, mean, replicates, level, seed)


def shipping_decision(comparison: Comparison, *, worst: float = WORST_SCORE_DB) -> Decision:
    """MODEL_CARD.md's shipping rule: ship A over B when the mean difference's interval lies above zero
    and no single score's interval lies wholly below ``worst`` (−0.1 dB).

    The rule asks for evidence of a gain on average, and tolerates a loss on one score only while
    the data cannot tell it from a loss of at most 0.1 dB.
    """
    failures = []
    mean = comparison.mean
    if not mean.low > 0.0:  # also refuses a NaN interval
        failures.append(f"the mean's interval [{mean.low:+.2f}, {mean.high:+.2f}] dB is not above zero")
    for score in comparison.scores:
        if score.high < worst:
            failures.append(f"{score.score}'s interval [{score.low:+.2f}, {score.high:+.2f}] dB lies wholly "
                            f"below {worst:+.1f} dB")
    if failures:
        return Decision(False, "do not ship: " + "; ".join(failures))
    return Decision(True, f"ship: the mean's interval [{mean.low:+.2f}, {mean.high:+.2f}] dB is above zero and "
                          f"no score's interval lies wholly below {worst:+.1f} dB")


def format_comparison(comparison: Comparison, decision: Decision, a: str, b: str,
                      reported: Mapping[str, float] | None = None) -> str:
    """The table of paired differences, their intervals and widths, the mean, and the verdict.

    ``reported`` (by score name, and ``"mean"``) adds a column: the difference of the scores as the
    quality tables report them (for MUSDB a difference of medians over tracks, which the paired
    statistic need not equal).
    """
    percent = f"{100 * comparison.level:g} %"
    header = f"{'score':<28}{'difference':>11}{percent + ' interval':>20}{'width':>8}"
    header += f"{'reported diff.':>16}" if reported else ""
    lines = [f"paired differences {a} - {b} (dB), {percent} bootstrap intervals, "
             f"{comparison.replicates} replicates, seed {comparison.seed}", header, "-" * len(header)]
    for row in (*comparison.scores, comparison.mean):
        name = "mean of the scores" if row is comparison.mean else row.score
        line = f"{name:<28}{row.difference:>+11.2f}{f'[{row.low:+.2f}, {row.high:+.2f}]':>20}{row.width:>8.2f}"
        if reported:
            line += f"{reported.get(row.score, float('nan')):>+16.2f}"
        lines.append(line)
    lines.append(f"verdict: {decision.reason}")
    return "\n".join(lines)
