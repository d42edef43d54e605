"""Paired bootstrap differences of two systems and the shipping rule (issue 23), on synthetic scores."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vocalsep.errors import VocalsepError
from vocalsep.evaluation.paired import (
    ClipPair,
    Comparison,
    PairedDifference,
    WindowedPair,
    compare,
    format_comparison,
    resample_windows,
    shipping_decision,
    windowed_difference,
)

TRACKS, WINDOWS, CLIPS = 14, 7, 120


def musdb_scores(seed: int) -> list[np.ndarray]:
    """Per-window SDR of one system: tracks differ by several dB, windows within a track by a few."""
    rng = np.random.default_rng(seed)
    level = rng.normal(5.0, 3.0, size=(TRACKS, 1))
    return list(level + rng.normal(0.0, 2.0, size=(TRACKS, WINDOWS)))


def mir1k_scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip SDR of one system and the clips' lengths in seconds (3-12 s, as MIR-1K's)."""
    rng = np.random.default_rng(seed)
    return rng.normal(9.0, 3.0, size=CLIPS), rng.uniform(3.0, 12.0, size=CLIPS)


def four_scores(shift: dict[str, float], *, noise: float = 0.0, seed: int = 1) -> tuple[dict, dict]:
    """System B's scores, and A = B + ``shift[score]`` (+ optional noise) on every window or clip."""
    rng = np.random.default_rng(seed + 100)
    windowed, clips = {}, {}
    for offset, stem in enumerate(("vocals", "accompaniment")):
        b = musdb_scores(seed + offset)
        a = [t + shift[f"musdb {stem}"] + rng.normal(0.0, noise, t.shape) for t in b]
        windowed[f"musdb {stem}"] = WindowedPair(a, b)
        b_clips, lengths = mir1k_scores(seed + 10 + offset)
        a_clips = b_clips + shift[f"unseen {stem}"] + rng.normal(0.0, noise, CLIPS)
        clips[f"unseen {stem}"] = ClipPair(a_clips, b_clips, lengths)
    return windowed, clips


NAMES = ("musdb vocals", "musdb accompaniment", "unseen vocals", "unseen accompaniment")


def test_identical_systems_differ_by_zero_and_do_not_ship() -> None:
    windowed, clips = four_scores(dict.fromkeys(NAMES, 0.0))
    comparison = compare(windowed, clips, replicates=500)
    for row in (*comparison.scores, comparison.mean):
        assert row.difference == pytest.approx(0.0, abs=1e-12)
        assert row.low <= 0.0 <= row.high
    decision = shipping_decision(comparison)
    assert not decision.ship and "not above zero" in decision.reason


def test_better_by_half_a_decibel_everywhere_ships_and_pairing_removes_the_spread() -> None:
    windowed, clips = four_scores(dict.fromkeys(NAMES, 0.5))
    comparison = compare(windowed, clips, replicates=500)
    assert [row.score for row in comparison.scores] == list(NAMES)
    for row in (*comparison.scores, comparison.mean):
        # tracks differ by 3 dB and windows by 2: only pairing (the same windows for A and B) gives 0.5 exactly
        assert row.difference == pytest.approx(0.5)
        assert row.low == pytest.approx(0.5) and row.high == pytest.approx(0.5)
    decision = shipping_decision(comparison)
    assert decision.ship and decision.reason.startswith("ship:")


def test_noisy_gain_has_an_interval_above_zero_around_the_difference() -> None:
    windowed, clips = four_scores(dict.fromkeys(NAMES, 0.5), noise=0.4)
    comparison = compare(windowed, clips, replicates=1000)
    for row in (*comparison.scores, comparison.mean):
        assert 0.0 < row.low < row.difference < row.high
        assert row.width < 1.0
    # averaging four scores of independent noise narrows the interval of their mean
    assert comparison.mean.width < np.mean([row.width for row in comparison.scores])
    assert shipping_decision(comparison).ship


def test_a_gain_on_average_with_one_score_clearly_lost_does_not_ship_and_names_it() -> None:
    shift = {"musdb vocals": -0.5, "musdb accompaniment": 1.0, "unseen vocals": 1.0, "unseen accompaniment": 1.0}
    comparison = compare(*four_scores(shift, noise=0.2), replicates=500)
    assert comparison.mean.low > 0.0
    decision = shipping_decision(comparison)
    assert not decision.ship
    assert "musdb vocals's interval" in decision.reason and "below -0.1 dB" in decision.reason
    assert "unseen" not in decision.reason and "mean" not in decision.reason


def test_a_loss_the_data_cannot_tell_from_a_tenth_of_a_decibel_is_tolerated() -> None:
    def row(name: str, low: float, high: float) -> PairedDifference:
        return PairedDifference(name, (low + high) / 2, low, high)

    scores = (row("a", -0.3, -0.1), row("b", 0.2, 0.6), row("c", 0.1, 0.5), row("d", 0.3, 0.7))
    tolerated = Comparison(scores, row("mean", 0.05, 0.4), 2000, 0.9, 0)
    assert shipping_decision(tolerated).ship  # -0.1 is the interval's edge, not below it
    lost = Comparison((row("a", -0.3, -0.11), *scores[1:]), row("mean", 0.05, 0.4), 2000, 0.9, 0)
    assert not shipping_decision(lost).ship


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    windowed, clips = four_scores(dict.fromkeys(NAMES, 0.2), noise=1.0)
    first = compare(windowed, clips, replicates=300, seed=7)
    assert compare(windowed, clips, replicates=300, seed=7) == first
    other = compare(windowed, clips, replicates=300, seed=8)
    assert other.mean.difference == first.mean.difference
    assert (other.mean.low, other.mean.high) != (first.mean.low, first.mean.high)


def test_silent_windows_are_left_out_as_the_reported_medians_leave_them_out() -> None:
    a, b = musdb_scores(1), musdb_scores(2)
    for scores in (a, b):
        scores[0][[1, 4]] = np.nan  # silent reference windows: no score for either system
        scores[3][:] = np.nan  # a track whose voice is silent throughout
    scores_a, scores_b = np.array(a), np.array(b)
    expected = np.mean([np.nanmedian(x) - np.nanmedian(y) for x, y in zip(scores_a, scores_b) if np.isfinite(x).any()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "All-NaN slice" or "Mean of empty slice" warnings
        assert windowed_difference(scores_a, scores_b) == pytest.approx(expected)
        comparison = compare({"musdb vocals": WindowedPair(a, b)}, {}, replicates=300)
    assert comparison.scores[0].difference == pytest.approx(expected)
    assert np.isfinite([comparison.mean.low, comparison.mean.high]).all()


def test_tracks_of_different_lengths_draw_only_their_own_windows() -> None:
    counts = np.array([7, 3, 0])
    tracks, windows = resample_windows(counts, 200, np.random.default_rng(0))
    assert tracks.shape == (200, 3) and windows.shape == (200, 3, 7)
    for count in range(3):
        drawn = windows[tracks == count]
        assert drawn.max() < counts[count] and (drawn[:, counts[count]:] == -1).all()
        assert (drawn[:, : counts[count]] >= 0).all()


def test_mir1k_difference_is_the_difference_of_the_gnsdrs() -> None:
    a, lengths = mir1k_scores(3)
    b, _ = mir1k_scores(4)
    mixture = np.random.default_rng(5).normal(0.0, 2.0, CLIPS)
    gnsdr = [np.average(x - mixture, weights=lengths) for x in (a, b)]
    comparison = compare({}, {"unseen vocals": ClipPair(a, b, lengths)}, replicates=200)
    assert comparison.scores[0].difference == pytest.approx(gnsdr[0] - gnsdr[1])


def test_mismatched_windows_are_refused() -> None:
    a = musdb_scores(1)
    with pytest.raises(VocalsepError, match="same tracks"):
        compare({"v": WindowedPair(a, [t[:-1] for t in a])}, {})


def test_the_table_lists_every_score_the_mean_and_the_verdict() -> None:
    windowed, clips = four_scores(dict.fromkeys(NAMES, 0.5))
    comparison = compare(windowed, clips, replicates=200)
    reported = dict.fromkeys((*NAMES, "mean"), 0.5)
    table = format_comparison(comparison, shipping_decision(comparison), "new", "old", reported)
    for text in (*NAMES, "mean of the scores", "90 % interval", "new - old", "200 replicates", "verdict: ship"):
        assert text in table
