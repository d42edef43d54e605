"""Byte-level fuzz of the decoder entry (short CI run; ``benchmarks/fuzz.py`` runs the long one).

Truncated and mutated wav/flac/mp3/ogg/mp4 files, raw bytes behind magic numbers, and
hand-made WAV headers with absurd fields must decode to a valid waveform or be refused with
one ``AudioReadError`` line. Each test runs its own inputs and counts them itself, so any
one of them can run alone.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from fuzzing import SEEDS, Case, Tally, absurd_headers, check_decoder, decoder_inputs, wav_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocalsep.audio.io import load_audio
from vocalsep.errors import AudioReadError
from vocalsep.pipeline.separate import separate_file

#: Inputs in the CI run: a few seconds; derandomised so a failure reproduces.
CI_EXAMPLES = 400
CI_HEADER_EXAMPLES = 200


def run_fuzz(strategy: st.SearchStrategy[Case], examples: int, label: str) -> Tally:
    """Check ``examples`` drawn inputs (fixed seed), print the tally line and return it."""
    tally = Tally()

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=strategy)
    def property_holds(case: Case) -> None:
        with tempfile.TemporaryDirectory() as folder:
            check_decoder(case, Path(folder), tally)

    property_holds()
    print(f"\n{tally.line(label)}")
    return tally


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seeds_decode(tmp_path: Path, name: str) -> None:
    # The mutations start from files that do decode, so refusals come from the damage.
    assert check_decoder(Case(name, SEEDS[name]), tmp_path) == "decoded"
    waveform, rate = load_audio(tmp_path / name) if (tmp_path / name).write_bytes(SEEDS[name]) else (None, 0)
    assert rate in (8000, 16000, 22050) and np.abs(waveform).max() > 0.1


def test_fuzzed_files_decode_or_give_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        tally = run_fuzz(decoder_inputs(), CI_EXAMPLES, "decoder fuzz (CI)")
    assert tally.tried >= CI_EXAMPLES // 2  # hypothesis may stop early on duplicates
    assert tally.decoded > 0 and tally.refused > 0  # both endings are exercised


def test_absurd_headers_decode_or_give_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        tally = run_fuzz(absurd_headers(), CI_HEADER_EXAMPLES, "header fuzz (CI)")
    assert tally.tried >= CI_HEADER_EXAMPLES // 2
    assert tally.decoded > 0 and tally.refused > 0


@pytest.mark.parametrize("rate", [0, 1, 7999, 192001, 4_000_000_000])
def test_rates_outside_8_to_192_khz_are_refused_before_any_work(tmp_path: Path, rate: int) -> None:
    # 88 200 frames at 1 Hz are 24.5 hours: this used to run for hours; now one line at open time.
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(rate, 1, 16, 1, bytes(2 * 88200)))
    started = time.perf_counter()
    with pytest.raises(AudioReadError) as error:  # the model is never loaded: a bogus one is not noticed
        separate_file(path, tmp_path / "out", model=tmp_path / "no-such-model.pt")
    assert time.perf_counter() - started < 5
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "sample rate" in message or "not a readable audio file" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(AudioReadError):
        load_audio(path)  # the whole-file reader (pitch, plot) refuses it too


@pytest.mark.parametrize("channels", [0, 17, 1000, 65535])
def test_absurd_channel_counts_are_one_line(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(44100, channels, 16, 1, bytes(2 * 4 * max(channels, 1))))
    with pytest.raises(AudioReadError) as error:
        separate_file(path, tmp_path / "out", model=tmp_path / "no-such-model.pt")
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_huge_declared_size_reads_what_is_there(tmp_path: Path) -> None:
    # A data chunk declared as 4 GB over 1000 real samples, and one cut inside a sample.
    samples = (np.arange(1000) % 100 * 100).astype("<i2")
    for declared, data, expected in [(0xFFFFFFFF, samples.tobytes(), 1000), (8000, samples.tobytes()[:-1], 999)]:
        path = tmp_path / "long.wav"
        path.write_bytes(wav_bytes(8000, 1, 16, 1, data, declared=declared))
        waveform, rate = load_audio(path)
        assert rate == 8000 and waveform.shape == (1, expected)
