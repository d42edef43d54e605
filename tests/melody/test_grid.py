"""The beat grid: seconds to beats and back, smoothing, notes snapped to it, beats.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocalsep.melody.grid import BeatGrid, beats_csv, grid_slots, quantize_notes, write_beats_csv
from vocalsep.melody.notes import Note


def steady_grid(bpm: float = 120.0, start: float = 0.3, beats: int = 40, **options: int) -> BeatGrid:
    return BeatGrid.from_beats(start + np.arange(beats) * 60.0 / bpm, **options)


def test_positions_and_seconds_are_inverse_and_go_on_past_the_ends() -> None:
    grid = BeatGrid(np.array([1.0, 1.5, 2.0, 2.6, 3.2, 3.8]), 110.0)  # 120 BPM, then 100
    assert grid.position(1.0) == 0 and grid.position(2.0) == 2
    assert grid.position(0.0) == -2.0  # before the first beat: the first beats' tempo goes on
    assert np.isclose(grid.position(5.0), 5 + 1.2 / 0.6)
    times = np.linspace(-1.0, 10.0, 57)
    np.testing.assert_allclose(grid.seconds(grid.position(times)), times, atol=1e-9)
    assert grid.bar_start(5.5) == 4 and grid.bar_start(-0.5) == -4


def test_tempo_is_the_median_interval_and_frame_jitter_is_smoothed() -> None:
    rng = np.random.default_rng(0)
    truth = 0.37 + np.arange(60) * 60 / 93.0
    jittered = truth + rng.choice([-0.01, 0.0, 0.01], truth.size)  # 10 ms envelope frames
    grid = BeatGrid.from_beats(jittered)
    assert abs(grid.bpm / 93.0 - 1) < 0.003
    assert np.abs(grid.times - truth).max() <= 0.01 + 1e-9  # the ends keep their own time
    assert np.abs(grid.times - truth)[4:-4].mean() < 0.5 * np.abs(jittered - truth)[4:-4].mean()
    steady = steady_grid(93.0)
    np.testing.assert_allclose(steady.times, 0.3 + np.arange(40) * 60 / 93.0, atol=1e-12)  # a line stays a line
    assert BeatGrid.steady().bpm is None and BeatGrid.steady(90.0).bpm == 90.0


def test_slots_keep_every_note_in_order_without_overlap() -> None:
    grid = steady_grid(120.0, start=0.0)  # a sixteenth is 0.125 s
    notes = [Note(0.51, 0.74, 60, 261.6), Note(0.76, 0.80, 62, 293.7), Note(0.81, 0.84, 64, 329.6),
             Note(0.85, 1.49, 65, 349.2), Note(3.0, 3.3, 67, 392.0)]
    slots = grid_slots(notes, grid, 4)
    assert len(slots) == len(notes)
    assert all(end > start for start, end in slots)
    assert all(previous[1] <= current[0] for previous, current in zip(slots, slots[1:]))
    assert slots[0] == (4, 6) and slots[-1] == (24, 26)  # 0.51 s -> beat 1.0; 3.0 s -> beat 6
    # notes shorter than a step move later, one step each, and the next note waits for them
    assert slots[1:4] == [(6, 7), (7, 8), (8, 12)]


def test_quantized_notes_sit_on_the_beat_subdivisions() -> None:
    grid = BeatGrid(np.array([0.2, 0.7, 1.25, 1.75, 2.3, 2.8]), 115.0)  # a wobbling tempo
    notes = [Note(0.21, 0.66, 60, 261.6), Note(0.98, 1.3, 62, 293.7), Note(1.76, 2.55, 64, 329.6)]
    snapped = quantize_notes(notes, grid, 2)
    positions = grid.position([t for n in snapped for t in (n.onset, n.offset)]) * 2
    np.testing.assert_allclose(positions, np.round(positions), atol=1e-3)
    assert [n.pitch for n in snapped] == [60, 62, 64]
    assert [n.onset for n in snapped] == [0.2, 0.975, 1.75]
    # nothing starts before the song
    early = quantize_notes([Note(0.0, 0.1, 60, 261.6)], BeatGrid.from_beats(np.array([0.3, 0.8, 1.3])), 1)
    assert early[0].onset >= 0 and early[0].offset > early[0].onset


def test_beats_csv_numbers_bars_from_the_downbeat(tmp_path: Path) -> None:
    grid = steady_grid(120.0, beats=7, first_downbeat=2)
    lines = beats_csv(grid).splitlines()
    assert lines[0] == "time,bar,beat"
    assert lines[1:] == ["0.3000,1,3", "0.8000,1,4", "1.3000,2,1", "1.8000,2,2", "2.3000,2,3", "2.8000,2,4",
                         "3.3000,3,1"]
    assert beats_csv(steady_grid(120.0, beats=2)).splitlines()[1:] == ["0.3000,1,1", "0.8000,1,2"]
    assert beats_csv(BeatGrid.steady()) == "time,bar,beat\n"  # no beat found: no rows
    assert write_beats_csv(grid, tmp_path / "beats.csv").read_text() == beats_csv(grid)
