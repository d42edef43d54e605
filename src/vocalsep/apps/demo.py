"""The demo: a real song shipped with the package, and a synthetic song with known stems.

``vocalsep demo`` separates the shipped song (11 s of "Slow Motion Dream" by Steven M Bryant,
CC BY 3.0, credited in ``examples/audio_example.txt``), tracks its melody and draws its pictures.
The generator below makes a reproducible song whose stems are known, for the tests that score a
separation (``vocalsep demo --synthetic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocalsep.audio.io import save_audio
from vocalsep.datasets import StemTrack
from vocalsep.errors import VocalsepError
from vocalsep.pipeline.song import PICTURES, SongResult, process_song

#: The shipped song and its attribution (package data: the wheel carries them; nothing is downloaded).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_SONG = "audio_example.mp3"
EXAMPLE_CREDIT = "audio_example.txt"  # its first line is the credit the demo prints

# A vowel's first three formants (Hz) and bandwidths: "a", "e", "o".
VOWELS = ((800, 1150, 2900), (400, 1600, 2700), (450, 800, 2830))
MELODY = (67, 69, 71, 72, 74, 72, 71, 69, 67, 64, 65, 67, 69, 67, 65, 64)  # MIDI notes
CHORDS = ((48, 55, 64), (53, 57, 65), (55, 59, 62), (48, 52, 55))


def midi_to_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _voice(rng: np.random.Generator, rate: int, seconds: float, tempo: float) -> np.ndarray:
    samples = int(seconds * rate)
    t = np.arange(samples) / rate
    beat = 60.0 / tempo
    note_index = np.minimum((t / beat).astype(int), len(MELODY) * 4 - 1) % len(MELODY)
    pitch = np.array([midi_to_hz(n) for n in MELODY])[note_index]
    vibrato = 1 + 0.012 * np.sin(2 * np.pi * 5.5 * t) * np.clip((t % beat) / beat * 3 - 0.5, 0, 1)
    phase = 2 * np.pi * np.cumsum(pitch * vibrato) / rate
    voice = np.zeros(samples)
    vowel = np.array(VOWELS)[note_index % len(VOWELS)]
    for harmonic in range(1, 30):
        frequency = pitch * harmonic
        gain = np.zeros(samples)
        for k in range(3):  # formant resonances shape the harmonic amplitudes
            gain += (0.6**k) / (1 + ((frequency - vowel[:, k]) / (80 + 40 * k)) ** 2)
        voice += np.where(frequency < rate / 2, gain / harmonic**0.7, 0) * np.sin(harmonic * phase)
    position = (t % beat) / beat
    envelope = np.clip(position / 0.08, 0, 1) * np.clip((0.92 - position) / 0.12, 0, 1)  # syllables
    breath = rng.standard_normal(samples) * 0.02
    return (voice * envelope + breath * envelope) / 2.4


def _accompaniment(rng: np.random.Generator, rate: int, seconds: float, tempo: float) -> np.ndarray:
    samples = int(seconds * rate)
    t = np.arange(samples) / rate
    beat = 60.0 / tempo
    bar = (t / (4 * beat)).astype(int) % len(CHORDS)
    chords = np.array(CHORDS)[bar]
    music = np.zeros(samples)
    for voice in range(3):
        frequency = np.array([midi_to_hz(n) for n in chords[:, voice].tolist()])
        phase = 2 * np.pi * np.cumsum(frequency) / rate
        music += 0.12 * (np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase))
    bass = np.array([midi_to_hz(n - 12) for n in chords[:, 0].tolist()])
    music += 0.25 * np.sin(2 * np.pi * np.cumsum(bass) / rate)
    position = t % beat
    kick = np.sin(2 * np.pi * (50 + 120 * np.exp(-position * 30)) * position) * np.exp(-position * 12)
    off = (t + beat / 2) % beat
    hat = rng.standard_normal(samples) * np.exp(-off * 60) * 0.15
    snare_position = (t + beat) % (2 * beat)
    snare = rng.standard_normal(samples) * np.exp(-snare_position * 18) * 0.25
    return music + 0.5 * kick + hat + snare


def demo_song(*, seconds: float = 12.0, sample_rate: int = 44100, seed: int = 0) -> StemTrack:
    """Generate the demo song's stems (stereo: the voice in the centre, the band spread).

    Parameters
    ----------
    seconds : float
    sample_rate : int
    seed : int
        Seeds the noise of breath and drums.

    Returns
    -------
    StemTrack
        ``vocals`` and ``accompaniment`` of shape (2, samples), peak of the mix below 0.9.
    """
    rng = np.random.default_rng(seed)
    tempo = 100.0
    voice = _voice(rng, sample_rate, seconds, tempo)
    left = _accompaniment(rng, sample_rate, seconds, tempo)
    right = np.roll(left, int(0.011 * sample_rate)) * 0.9 + _accompaniment(rng, sample_rate, seconds, tempo) * 0.1
    vocals = np.stack([voice, voice])
    accompaniment = np.stack([left, right])
    scale = 0.9 / max(1e-9, float(np.max(np.abs(vocals + accompaniment))))
    return StemTrack(
        "demo_song",
        (vocals * scale).astype(np.float32),
        (accompaniment * scale).astype(np.float32),
        sample_rate,
    )


def example_song() -> Path:
    """The real song shipped inside the package.

    Returns
    -------
    Path
        ``vocalsep/examples/audio_example.mp3``: 11 s, 44.1 kHz stereo, CC BY 3.0 (see ``example_credit``).
    """
    path = EXAMPLES_DIR / EXAMPLE_SONG
    if not path.is_file():  # an install without package data: say so instead of a decoder error
        raise VocalsepError(f"the shipped example song is missing: {path} (reinstall vocalsep)")
    return path


def example_credit() -> str:
    """The shipped song's credit: title, artist, licence and source, in one line.

    Returns
    -------
    str
        The first line of ``vocalsep/examples/audio_example.txt``, which holds the full attribution.
    """
    path = EXAMPLES_DIR / EXAMPLE_CREDIT
    if not path.is_file():
        raise VocalsepError(f"the shipped example song's credit is missing: {path} (reinstall vocalsep)")
    return path.read_text(encoding="utf-8").splitlines()[0].strip()


@dataclass(frozen=True)
class DemoResult:
    """What ``run_demo`` did: the song it processed, its credit (None for the synthetic song), its files."""

    song: Path
    credit: str | None
    result: SongResult


def run_demo(
    output_dir: str | Path = "demo",
    *,
    synthetic: bool = False,
    model: str | Path = "default",
    progress: bool = False,
) -> DemoResult:
    """Separate a song, track its melody and draw its pictures, in one ``process_song`` pass.

    Parameters
    ----------
    output_dir : str or Path
        Files go to ``output_dir/<song>/``; existing ones are replaced (a demo is rerun as is).
    synthetic : bool
        Generate ``output_dir/demo_song.wav`` (known stems) instead of using the shipped real song.
    model : str or Path
        Bundled model name or checkpoint path.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    DemoResult
    """
    output_dir = Path(output_dir)
    if synthetic:
        generated = demo_song()
        song = save_audio(output_dir / "demo_song.wav", generated.mixture, generated.sample_rate, overwrite=True)
        credit = None
    else:
        song, credit = example_song(), example_credit()
    result = process_song(song, output_dir, stems=True, melody=True, pictures=PICTURES, model=model,
                          overwrite=True, progress=progress)
    return DemoResult(song, credit, result)
