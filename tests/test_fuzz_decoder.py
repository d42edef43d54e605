"""Byte-level fuzz of the decoder entry (short CI run; ``benchmarks/fuzz.py`` runs the long one).

Truncated and mutated wav/flac/mp3/ogg/mp4 files, and raw bytes behind magic numbers, must
decode to a valid waveform or be refused with one ``AudioReadError`` line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import SEEDS, Case, Tally, check_decoder, decoder_inputs
from hypothesis import HealthCheck, given, settings

from vocalsep.audio.io import load_audio

#: Inputs in the CI run: a few seconds; derandomised so a failure reproduces.
CI_EXAMPLES = 400
TALLY = Tally()


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seeds_decode(tmp_path: Path, name: str) -> None:
    # The mutations start from files that do decode, so refusals come from the damage.
    assert check_decoder(Case(name, SEEDS[name]), tmp_path) == "decoded"
    waveform, rate = load_audio(tmp_path / name) if (tmp_path / name).write_bytes(SEEDS[name]) else (None, 0)
    assert rate in (8000, 16000, 22050) and np.abs(waveform).max() > 0.1


@settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=decoder_inputs())
def test_fuzzed_files_decode_or_give_one_line(case: Case) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_decoder(case, Path(folder), TALLY)


def test_fuzz_count_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    # Runs after the property above (file order); fails if the fuzz run tried too few inputs.
    with capsys.disabled():
        print(f"\n{TALLY.line('decoder fuzz (CI)')}")
    assert TALLY.tried >= CI_EXAMPLES // 2
    assert TALLY.decoded > 0 and TALLY.refused > 0  # both endings are exercised
