"""Accuracy and speed of soxr (vocalsep's resampler) beside the Kaiser-sinc one it replaced.

``kaiser sinc`` is the polyphase resampler ``audio.resample`` ran before (16 zero
crossings, pass band to 94.5 %, Kaiser beta 14.77, torch conv1d), kept here so the
comparison can be repeated; ``vocalsep`` is ``audio.resample`` as it is now.

For each rate pair and implementation, prints:

- ``sine dB``: error of a 1 kHz sine (amplitude 0.5) against the exact sine at the
  target rate, relative to the signal, over the whole signal except 50 ms at each end;
- ``noise dB``: the same for white noise band-limited to 90 % of the lower Nyquist
  frequency (periodic, so its ideal resampling is exact by FFT);
- ``ripple dB``: peak-to-peak gain of sines across 2 %-90 % of the lower Nyquist;
- ``stop dB``: the strongest content that should not be there (the aliases of sines
  between 105 % of the target Nyquist and the source Nyquist when downsampling; the
  images above 105 % of the source Nyquist when upsampling), relative to the sine;
- ``ms/s``: wall time per second of stereo audio (60 s of noise, best of 3).

Usage::

    taskset -c 1 python benchmarks/resample.py

A run on a shared 2-core machine (commit after 5552018; times are noisy to ~30 %): soxr HQ's
white-noise error is -76 to -133 dB against the Kaiser sinc's -27 dB (which loses 2.7 dB
between 85 and 90 % of Nyquist), its stop band -135 dB against -23 to -35 dB, its 1 kHz
sine error -134 dB against -140 dB; soxr's stream took 2.1-3.4 ms per second of audio
against 1.7-3.2 ms (faster at 22.05->44.1 kHz, 0.4-0.5 ms/s slower at the others: under
1 % of a separation).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np

Resampler = Callable[[np.ndarray, int, int], np.ndarray]
PAIRS = [(44100, 48000), (48000, 44100), (16000, 44100), (22050, 44100)]
EDGE_SECONDS = 0.05


def ours(x: np.ndarray, source: int, target: int) -> np.ndarray:
    from vocalsep.audio.io import resample

    return resample(x, source, target)


def kaiser_sinc(x: np.ndarray, source: int, target: int, zero_crossings: int = 16,
                rolloff: float = 0.945, beta: float = 14.77) -> np.ndarray:
    """The replaced resampler: output ``k`` at input time ``k * source / target``, zeros outside."""
    import torch

    ratio = Fraction(target, source)
    up, down = ratio.numerator, ratio.denominator
    cutoff = min(down, up) * rolloff
    reach = math.ceil(zero_crossings * down / cutoff)
    key = (down, up)
    if key not in _KERNELS:
        positions = torch.arange(-reach, reach + down, dtype=torch.float64)[None] / down
        phases = -torch.arange(up, dtype=torch.float64)[:, None] / up
        t = ((positions + phases) * cutoff).clamp(-zero_crossings, zero_crossings)
        window = torch.special.i0(beta * torch.sqrt(1 - (t / zero_crossings) ** 2))
        window = window / torch.special.i0(torch.tensor(beta, dtype=torch.float64))
        sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(math.pi * t) / (math.pi * t))
        _KERNELS[key] = (sinc * window * cutoff / down).float()[:, None, :]
    samples = x.shape[-1]
    flat = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(-1, 1, samples)
    padded = torch.nn.functional.pad(flat, (reach, reach + down))
    with torch.inference_mode():
        out = torch.nn.functional.conv1d(padded, _KERNELS[key], stride=down)
    return out.transpose(1, 2).reshape(flat.shape[0], -1)[:, : -(-samples * up // down)].numpy()


_KERNELS: dict[tuple[int, int], object] = {}


def soxr_with(quality: str) -> Resampler:
    def run(x: np.ndarray, source: int, target: int) -> np.ndarray:
        import soxr

        return np.ascontiguousarray(soxr.resample(np.ascontiguousarray(x.T), source, target, quality=quality).T)

    return run


def _fit(y: np.ndarray, samples: int) -> np.ndarray:
    return y[:, :samples] if y.shape[1] >= samples else np.pad(y, ((0, 0), (0, samples - y.shape[1])))


def _error_db(y: np.ndarray, ideal: np.ndarray, target: int) -> float:
    edge = int(EDGE_SECONDS * target)
    y, ideal = _fit(y, ideal.shape[1])[:, edge:-edge], ideal[:, edge:-edge]
    return 10 * np.log10(np.sum((y - ideal) ** 2) / np.sum(ideal**2) + 1e-30)


def _sine(frequency: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t))[None].astype(np.float32)


def sine_error(resample: Resampler, source: int, target: int) -> float:
    x = _sine(1000.0, source, 1.0)
    ideal = _sine(1000.0, target, 1.0).astype(np.float64)
    return _error_db(resample(x, source, target).astype(np.float64), ideal, target)


def noise_error(resample: Resampler, source: int, target: int) -> float:
    seconds = 1.0  # whole seconds: an integer number of samples at both rates
    band = 0.9 * min(source, target) / 2
    rng = np.random.default_rng(0)
    n_in, n_out = int(source * seconds), int(target * seconds)
    spectrum = np.zeros(n_in // 2 + 1, complex)
    bins = np.arange(spectrum.size) / seconds < band
    spectrum[bins] = rng.standard_normal(bins.sum()) + 1j * rng.standard_normal(bins.sum())
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n_in)
    scale = 0.3 / x.std()
    ideal_spectrum = np.zeros(n_out // 2 + 1, complex)
    ideal_spectrum[: bins.sum()] = spectrum[: bins.sum()]
    ideal = np.fft.irfft(ideal_spectrum, n_out) * (n_out / n_in) * scale
    y = resample((x * scale)[None].astype(np.float32), source, target).astype(np.float64)
    # a periodic signal: compare the middle, where the zero padding outside does not reach
    return _error_db(y, ideal[None], target)


def _gain(y: np.ndarray, frequency: float, rate: int) -> float:
    edge = int(EDGE_SECONDS * rate)
    t = np.arange(y.shape[1]) / rate
    basis = np.exp(-2j * np.pi * frequency * t)[edge:-edge]
    return float(np.abs(np.mean(y[0, edge:-edge] * basis)) * 2 / 0.5)


def ripple(resample: Resampler, source: int, target: int) -> float:
    nyquist = min(source, target) / 2
    gains = []
    for frequency in np.linspace(0.02, 0.9, 45) * nyquist:
        y = resample(_sine(frequency, source, 0.5), source, target).astype(np.float64)
        gains.append(_gain(y, frequency, target))
    gains_db = 20 * np.log10(gains)
    return float(gains_db.max() - gains_db.min())


def stop_band(resample: Resampler, source: int, target: int) -> float:
    worst = 0.0
    edge = int(EDGE_SECONDS * target)
    if target < source:  # aliases: the whole output should be zero
        for frequency in np.linspace(1.05 * target / 2, 0.99 * source / 2, 24):
            y = resample(_sine(frequency, source, 0.5), source, target).astype(np.float64)[0, edge:-edge]
            worst = max(worst, float(np.sqrt(2 * np.mean(y**2)) / 0.5))
    else:  # images: output content above the source's Nyquist frequency
        for frequency in np.linspace(0.02, 0.9, 24) * source / 2:
            y = resample(_sine(frequency, source, 0.5), source, target).astype(np.float64)[0, edge:-edge]
            spectrum = np.fft.rfft(y * np.hanning(y.size))
            freqs = np.fft.rfftfreq(y.size, 1 / target)
            peak = np.abs(spectrum).max()
            worst = max(worst, float(np.abs(spectrum[freqs > 1.05 * source / 2]).max() / peak))
    return 20 * np.log10(worst + 1e-30)


def speed(resample: Resampler, source: int, target: int, seconds: float = 60.0) -> float:
    x = (0.3 * np.random.default_rng(1).standard_normal((2, int(source * seconds)))).astype(np.float32)
    resample(x[:, :source], source, target)  # warm-up: kernels, threads
    best = np.inf
    for _ in range(3):
        started = time.perf_counter()
        resample(x, source, target)
        best = min(best, time.perf_counter() - started)
    return 1000 * best / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    implementations = {"kaiser sinc (before)": kaiser_sinc, "vocalsep: soxr HQ stream": ours,
                       "soxr HQ one-shot": soxr_with("HQ"), "soxr VHQ one-shot": soxr_with("VHQ")}
    print("| rates | resampler | sine dB | noise dB | ripple dB | stop dB | ms/s |")
    print("|---|---|---|---|---|---|---|")
    for source, target in PAIRS:
        for name, function in implementations.items():
            row = [sine_error(function, source, target), noise_error(function, source, target),
                   ripple(function, source, target), stop_band(function, source, target),
                   speed(function, source, target)]
            print(f"| {source}->{target} | {name} | {row[0]:.1f} | {row[1]:.1f} | {row[2]:.4f} | "
                  f"{row[3]:.1f} | {row[4]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
