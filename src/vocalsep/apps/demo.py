"""A synthetic demo song: a sung-like melody over bass, chords and drums.

The project ships no third-party audio; this generator makes a reproducible song
with known stems so the README command and the tests have something to separate.
"""

from __future__ import annotations

import numpy as np

from vocalsep.datasets import StemTrack

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
