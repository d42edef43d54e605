"""Pictures: spectrograms of the mixture and the separated voice, and the sung melody.

Everything renders with matplotlib's Agg backend into PNG bytes (no display needed); the
spectrograms come from ``spectra``, which accumulates them while a song streams past.
Spectrograms are in dB relative to the loudest bin of the figure, on a logarithmic
frequency axis labelled in Hz, so the voice's harmonics and the melody are easy to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vocalsep.files import atomic_write_bytes
from vocalsep.melody.notes import Note
from vocalsep.melody.tracking import PitchTrack

DYNAMIC_RANGE_DB = 80.0
Spectrogram = tuple[np.ndarray, np.ndarray, np.ndarray]  # power (rows, columns), column edges (s), row edges (Hz)


def _to_db(power: np.ndarray, reference: float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, reference * 10 ** (-DYNAMIC_RANGE_DB / 10)) / reference)


def _format_log_axis(axis, fmin: float, fmax: float) -> None:  # noqa: ANN001
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    sparse = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
    dense = (50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000)
    ticks = [t for t in (dense if fmax / fmin < 40 else sparse) if fmin <= t <= fmax]
    axis.set_yscale("log")
    axis.set_ylim(fmin, fmax)
    axis.yaxis.set_major_locator(FixedLocator(ticks))
    axis.yaxis.set_minor_locator(NullLocator())
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"))
    axis.set_ylabel("frequency (Hz)")
    axis.set_xlabel("time (s)")


def _png(figure) -> bytes:  # noqa: ANN001
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _save(figure, path: str | Path) -> Path:  # noqa: ANN001
    return atomic_write_bytes(path, _png(figure))


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def separation_png(mixture: Spectrogram, vocals: Spectrogram, *, title: str | None = None) -> bytes:
    """Spectrograms of the mixture and the separated vocals side by side, on one colour scale, as PNG bytes.

    Parameters
    ----------
    mixture, vocals : tuple
        ``(power, times, frequencies)`` on the same grid (``spectra.LogSpectrogramStream``).
    title : str, optional
        Figure title, e.g. the track name.
    """
    plt = _pyplot()
    (mix_power, times, freqs), (voc_power, voc_times, _) = mixture, vocals
    reference = max(float(mix_power.max(initial=0.0)), float(voc_power.max(initial=0.0)), 1e-12)
    figure, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True, constrained_layout=True)
    image = None
    for axis, power, edges, label in ((axes[0], mix_power, times, "mixture"),
                                      (axes[1], voc_power, voc_times, "separated vocals")):
        image = axis.pcolormesh(edges, freqs, _to_db(power, reference), cmap="magma", shading="flat",
                                vmin=-DYNAMIC_RANGE_DB, vmax=0, rasterized=True)
        _format_log_axis(axis, freqs[0], freqs[-1])
        axis.set_title(label)
    axes[1].set_ylabel("")
    figure.colorbar(image, ax=axes, label="power (dB re. loudest bin)", fraction=0.03, pad=0.01)
    if title:
        figure.suptitle(title)
    return _png(figure)


def plot_separation(
    mixture: np.ndarray,
    vocals: np.ndarray,
    sample_rate: int,
    path: str | Path,
    *,
    title: str | None = None,
    fmin: float = 40.0,
) -> Path:
    """``separation_png`` of two waveforms (shape (channels, samples) or (samples,)), written atomically to ``path``."""
    from vocalsep.pipeline.spectra import log_spectrogram

    png = separation_png(log_spectrogram(mixture, sample_rate, fmin=fmin),
                         log_spectrogram(vocals, sample_rate, fmin=fmin), title=title)
    return atomic_write_bytes(path, png)


def melody_range(track: PitchTrack) -> tuple[float, float]:
    """Frequency range (Hz) of the melody picture: the sung F0 with room for a few harmonics."""
    f0 = track.voiced_frequency()
    sung = f0[np.isfinite(f0)]
    if not sung.size:
        return 60.0, 4000.0
    low, high = np.percentile(sung, [1, 99])
    return max(40.0, low / 1.6), min(7200.0, high * 4.5)


def melody_png(spectrogram: Spectrogram, track: PitchTrack, notes: Sequence[Note], *, title: str | None = None) -> bytes:
    """The F0 contour (line) and the notes (bars, labelled) over the vocals' constant-Q spectrogram, as PNG bytes.

    Parameters
    ----------
    spectrogram : tuple
        ``(power, times, frequencies)`` of the vocals over ``melody_range(track)``
        (``spectra.CqtStream.result``).
    track : PitchTrack
    notes : sequence of Note
    title : str, optional
    """
    plt = _pyplot()
    from matplotlib import patheffects
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    power, times, freqs = spectrogram
    fmin, fmax = float(freqs[0]), float(freqs[-1])
    duration = max(float(times[-1]), float(track.times[-1]) if len(track) else 0.0, 1e-3)
    width = float(np.clip(6 + duration / 4, 10, 24))
    figure, axis = plt.subplots(figsize=(width, 5.5), constrained_layout=True)
    image = axis.pcolormesh(times, freqs, _to_db(power, max(float(power.max(initial=0.0)), 1e-12)), cmap="Greys",
                            shading="flat", vmin=-70, vmax=0, rasterized=True)
    figure.colorbar(image, ax=axis, label="power (dB re. loudest bin)", fraction=0.03, pad=0.01)
    _format_log_axis(axis, fmin, fmax)
    semitone = 2 ** (1 / 24)
    label_spacing = 0.45 * duration / width  # seconds per ~0.45 inch: room for a label like "C#4"
    last_label = -np.inf
    bars = []  # one collection draws thousands of notes (an hour of singing) quickly
    for note in notes:
        hz = 440.0 * 2 ** ((note.pitch - 69) / 12)
        bars.append(Rectangle((note.onset, hz / semitone), note.duration, hz * semitone - hz / semitone))
        if note.onset - last_label >= label_spacing:  # skip labels that would overlap the previous one
            axis.text(note.onset, hz * semitone * 1.01, note.name, fontsize=7, color="saddlebrown",
                      va="bottom", ha="left", clip_on=True,
                      path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
            last_label = note.onset
    axis.add_collection(PatchCollection(bars, facecolor="tab:orange", edgecolor="darkorange", alpha=0.55,
                                        linewidth=0.8))
    axis.plot(track.times, track.voiced_frequency(), color="tab:blue", linewidth=1.2, label=f"F0 ({track.tracker})")
    axis.plot([], [], color="tab:orange", linewidth=6, alpha=0.55, label="notes")
    axis.legend(loc="upper right", fontsize=8, framealpha=0.8)
    axis.set_xlim(0, duration)
    axis.set_ylim(fmin, fmax)
    axis.set_title(title or "sung melody over the vocals' spectrogram")
    return _png(figure)


def plot_melody(
    vocals: np.ndarray,
    sample_rate: int,
    track: PitchTrack,
    notes: Sequence[Note],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """``melody_png`` of a vocals waveform (shape (channels, samples) or (samples,)), written atomically to ``path``."""
    from vocalsep.pipeline.spectra import cqt_spectrogram

    fmin, fmax = melody_range(track)
    spectrogram = cqt_spectrogram(vocals, sample_rate, fmin=fmin, fmax=min(fmax, sample_rate / 2))
    return atomic_write_bytes(path, melody_png(spectrogram, track, notes, title=title))


def plot_training_log(log_path: str | Path, path: str | Path) -> Path:
    """Training curves of a run's ``log.jsonl``: loss, and validation SDR per dataset and stem.

    Parameters
    ----------
    log_path : str or Path
        The JSON-lines log that ``vocalsep train`` writes (one entry per validation).
    path : str or Path
        The PNG to write.
    """
    import json

    from vocalsep.errors import VocalsepError

    try:
        entries = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as error:
        raise VocalsepError(f"cannot read training log {log_path}: {error}") from None
    if not entries:
        raise VocalsepError(f"{log_path}: the training log is empty")
    plt = _pyplot()
    figure, (loss_axis, sdr_axis) = plt.subplots(1, 2, figsize=(12, 4.2))
    steps = [entry["step"] for entry in entries]
    loss_axis.plot(steps, [entry["train_loss"] for entry in entries], marker="o", color="tab:gray")
    loss_axis.set(title="training loss (L1 on masked magnitude)", xlabel="step", ylabel="loss")
    for key in sorted({k for entry in entries for k in entry if k.endswith("_sdr")}):
        values = [entry.get(key, np.nan) for entry in entries]
        sdr_axis.plot(steps, values, marker="o", label=key.removesuffix("_sdr").replace("_", " "))
    sdr_axis.set(title="validation: median SDR over tracks", xlabel="step", ylabel="SDR (dB)")
    sdr_axis.legend(loc="lower right", fontsize=8)
    for axis in (loss_axis, sdr_axis):
        axis.grid(alpha=0.3)
    figure.suptitle(str(log_path))
    figure.tight_layout()
    return _save(figure, path)
