"""Pictures: spectrograms of the mixture and the separated voice, and the sung melody.

Everything renders with matplotlib's Agg backend into PNG files (no display needed).
Spectrograms are in dB relative to the loudest bin of the figure, on a logarithmic
frequency axis labelled in Hz, so the voice's harmonics and the melody are easy to see.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vocalsep.files import atomic_write_bytes
from vocalsep.melody.notes import Note
from vocalsep.melody.tracking import PitchTrack

#: Rows of the log-frequency grid the spectrograms are drawn on.
LOG_BINS = 320
#: At most this many time columns are drawn (long songs are averaged down to it).
MAX_COLUMNS = 2400
DYNAMIC_RANGE_DB = 80.0


def log_spectrogram(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    fmin: float = 40.0,
    fmax: float | None = None,
    bins: int = LOG_BINS,
    max_columns: int = MAX_COLUMNS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram resampled onto a log-spaced frequency grid.

    Parameters
    ----------
    waveform : ndarray, shape (channels, samples) or (samples,)
        Channels are averaged in power.
    sample_rate : int
    fmin, fmax : float
        Frequency range in Hz (``fmax`` defaults to the Nyquist frequency).
    bins : int
        Rows of the log-frequency grid.
    max_columns : int
        Frames are averaged in groups so that no more than this many remain.

    Returns
    -------
    power : ndarray, shape (bins, frames)
    times : ndarray, shape (frames + 1,)
        Column edges in seconds.
    frequencies : ndarray, shape (bins + 1,)
        Row edges in Hz.
    """
    from scipy.signal import stft

    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32))
    n_fft = int(2 ** np.ceil(np.log2(0.046 * sample_rate)))  # ~46 ms: resolves low voices' harmonics
    hop = n_fft // 4
    freqs, _, spec = stft(audio, fs=sample_rate, nperseg=n_fft, noverlap=n_fft - hop, boundary="even",
                          padded=True)
    power = np.mean(np.abs(spec) ** 2, axis=0)  # (freqs, frames)
    group = max(1, int(np.ceil(power.shape[1] / max_columns)))
    if group > 1:
        usable = power.shape[1] // group * group
        power = power[:, :usable].reshape(power.shape[0], -1, group).mean(axis=2)
    fmax = min(fmax or sample_rate / 2, sample_rate / 2)
    edges = np.geomspace(fmin, fmax, bins + 1)
    # Mean power over each log band: differences of the running integral over frequency
    # (averages many bins at the top, interpolates smoothly between bins at the bottom).
    integral = np.concatenate(
        [np.zeros((1, power.shape[1])), np.cumsum((power[1:] + power[:-1]) / 2 * np.diff(freqs)[:, None], axis=0)]
    )
    at_edges = np.stack([np.interp(edges, freqs, integral[:, c]) for c in range(power.shape[1])], axis=1)
    rows = np.diff(at_edges, axis=0) / np.diff(edges)[:, None]
    times = np.arange(power.shape[1] + 1) * (hop * group / sample_rate)
    return rows, times, edges


def cqt_spectrogram(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    fmin: float,
    fmax: float,
    bins_per_octave: int = 48,
    max_columns: int = MAX_COLUMNS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant-Q power spectrogram (librosa) of the channel average, analysed at 16 kHz.

    Finer than an STFT at low frequencies, where the sung fundamental lies; used under the melody.

    Returns
    -------
    power : ndarray, shape (bins, frames)
    times : ndarray, shape (frames + 1,)
        Column edges in seconds.
    frequencies : ndarray, shape (bins + 1,)
        Row edges in Hz (geometric midpoints between the CQT centre frequencies).
    """
    import librosa

    from vocalsep.audio.io import resample

    rate = 16000
    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32)).mean(axis=0)
    audio = np.asarray(resample(audio, sample_rate, rate), dtype=np.float32)
    fmax = min(fmax, rate / 2 * 0.9)
    n_bins = max(1, int(np.floor(bins_per_octave * np.log2(fmax / fmin))))
    hop = 160  # 10 ms, a multiple of 2**octaves as librosa's multirate CQT needs
    if audio.size < 4 * hop:
        audio = np.pad(audio, (0, 4 * hop - audio.size))
    with warnings.catch_warnings():  # "n_fft too large" in the lowest octaves of short inputs: harmless
        warnings.simplefilter("ignore", UserWarning)
        power = np.abs(librosa.cqt(audio, sr=rate, hop_length=hop, fmin=fmin, n_bins=n_bins,
                                   bins_per_octave=bins_per_octave)) ** 2
    group = max(1, int(np.ceil(power.shape[1] / max_columns)))
    if group > 1:
        usable = power.shape[1] // group * group
        power = power[:, :usable].reshape(power.shape[0], -1, group).mean(axis=2)
    centres = fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
    edges = np.concatenate([centres * 2 ** (-0.5 / bins_per_octave), centres[-1:] * 2 ** (0.5 / bins_per_octave)])
    # CQT frames are centred on i * hop: columns span +-hop/2 around them.
    times = (np.arange(power.shape[1] + 1) * group - 0.5) * (hop / rate)
    return power, np.maximum(times, 0.0), edges


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


def _save(figure, path: str | Path) -> Path:  # noqa: ANN001
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_separation(
    mixture: np.ndarray,
    vocals: np.ndarray,
    sample_rate: int,
    path: str | Path,
    *,
    title: str | None = None,
    fmin: float = 40.0,
) -> Path:
    """Spectrograms of the mixture and the separated vocals side by side, on one colour scale.

    Parameters
    ----------
    mixture, vocals : ndarray, shape (channels, samples) or (samples,)
    sample_rate : int
    path : str or Path
        PNG file to write (atomically).
    title : str, optional
        Figure title, e.g. the track name.
    """
    plt = _pyplot()
    mix_power, times, freqs = log_spectrogram(mixture, sample_rate, fmin=fmin)
    voc_power, _, _ = log_spectrogram(vocals, sample_rate, fmin=fmin)
    reference = max(float(mix_power.max()), float(voc_power.max()), 1e-12)
    figure, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True, constrained_layout=True)
    image = None
    for axis, power, label in ((axes[0], mix_power, "mixture"), (axes[1], voc_power, "separated vocals")):
        image = axis.pcolormesh(times, freqs, _to_db(power, reference), cmap="magma", shading="flat",
                                vmin=-DYNAMIC_RANGE_DB, vmax=0, rasterized=True)
        _format_log_axis(axis, freqs[0], freqs[-1])
        axis.set_title(label)
    axes[1].set_ylabel("")
    figure.colorbar(image, ax=axes, label="power (dB re. loudest bin)", fraction=0.03, pad=0.01)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_melody(
    vocals: np.ndarray,
    sample_rate: int,
    track: PitchTrack,
    notes: Sequence[Note],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """The F0 contour (line) and the notes (bars, labelled) over the vocals' constant-Q spectrogram.

    Parameters
    ----------
    vocals : ndarray, shape (channels, samples) or (samples,)
    sample_rate : int
    track : PitchTrack
    notes : sequence of Note
    path : str or Path
        PNG file to write (atomically).
    title : str, optional
    """
    plt = _pyplot()
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    f0 = track.voiced_frequency()
    sung = f0[np.isfinite(f0)]
    if sung.size:
        low, high = np.percentile(sung, [1, 99])
        fmin, fmax = max(40.0, low / 1.6), min(sample_rate / 2, high * 4.5)
    else:
        fmin, fmax = 60.0, min(sample_rate / 2, 4000.0)
    power, times, freqs = cqt_spectrogram(vocals, sample_rate, fmin=fmin, fmax=fmax)
    fmax = float(freqs[-1])
    duration = max(float(times[-1]), float(track.times[-1]) if len(track) else 0.0)
    width = float(np.clip(6 + duration / 4, 10, 24))
    figure, axis = plt.subplots(figsize=(width, 5.5), constrained_layout=True)
    image = axis.pcolormesh(times, freqs, _to_db(power, max(float(power.max()), 1e-12)), cmap="Greys",
                            shading="flat", vmin=-70, vmax=0, rasterized=True)
    figure.colorbar(image, ax=axis, label="power (dB re. loudest bin)", fraction=0.03, pad=0.01)
    _format_log_axis(axis, fmin, fmax)
    semitone = 2 ** (1 / 24)
    label_spacing = 0.45 * duration / width  # seconds per ~0.45 inch: room for a label like "C#4"
    last_label = -np.inf
    for note in notes:
        hz = 440.0 * 2 ** ((note.pitch - 69) / 12)
        axis.add_patch(Rectangle((note.onset, hz / semitone), note.duration, hz * semitone - hz / semitone,
                                 facecolor="tab:orange", edgecolor="darkorange", alpha=0.55, linewidth=0.8))
        if note.onset - last_label >= label_spacing:  # skip labels that would overlap the previous one
            axis.text(note.onset, hz * semitone * 1.01, note.name, fontsize=7, color="saddlebrown",
                      va="bottom", ha="left", clip_on=True,
                      path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
            last_label = note.onset
    axis.plot(track.times, f0, color="tab:blue", linewidth=1.2, label=f"F0 ({track.tracker})")
    axis.plot([], [], color="tab:orange", linewidth=6, alpha=0.55, label="notes")
    axis.legend(loc="upper right", fontsize=8, framealpha=0.8)
    axis.set_xlim(0, duration)
    axis.set_title(title or "sung melody over the vocals' spectrogram")
    return _save(figure, path)


def plot_separation_files(mixture_path: str | Path, vocals_path: str | Path, path: str | Path) -> Path:
    """``plot_separation`` of two audio files (the vocals are resampled to the mixture's rate if needed)."""
    from vocalsep.audio.io import load_audio, resample

    mixture, rate = load_audio(mixture_path)
    vocals, vocals_rate = load_audio(vocals_path)
    return plot_separation(mixture, resample(vocals, vocals_rate, rate), rate, path, title=Path(mixture_path).name)


def plot_file(
    input_path: str | Path,
    output_dir: str | Path = "melody",
    *,
    vocals_path: str | Path | None = None,
    separate: bool = True,
    model: str | Path = "default",
    tracker: str = "crepe-tiny",
) -> list[Path]:
    """Draw ``spectrograms.png`` (when there is a mixture and vocals) and ``melody.png`` for one file.

    Parameters
    ----------
    input_path : str or Path
        A song, or an isolated voice when ``separate`` is False and ``vocals_path`` is None.
    output_dir : str or Path
        Pictures go to ``output_dir/<input stem>/`` (existing pictures are replaced).
    vocals_path : str or Path, optional
        Already separated vocals of ``input_path``; no separation is run.
    separate : bool
        Separate with ``model`` when ``vocals_path`` is None.
    model : str or Path
    tracker : str
        Pitch tracker for the melody picture.

    Returns
    -------
    list of Path
        The pictures written.
    """
    from vocalsep.audio.io import load_audio, resample
    from vocalsep.melody.notes import segment_notes
    from vocalsep.pipeline.naming import track_name
    from vocalsep.melody.tracking import track_pitch

    input_path = Path(input_path)
    folder = Path(output_dir) / track_name(input_path)
    mixture, rate = load_audio(input_path)
    vocals = None
    if vocals_path is not None:
        vocals, vocals_rate = load_audio(vocals_path)
        vocals = resample(vocals, vocals_rate, rate)
    elif separate:
        from vocalsep.separation.separator import Separator

        vocals = Separator.from_pretrained(model).separate(mixture, rate).vocals
    written = []
    if vocals is not None:
        written.append(plot_separation(mixture, vocals, rate, folder / "spectrograms.png", title=input_path.name))
    voice = mixture if vocals is None else vocals
    track = track_pitch(voice, rate, tracker=tracker)
    written.append(plot_melody(voice, rate, track, segment_notes(track), folder / "melody.png",
                               title=f"{input_path.name}: sung melody"))
    return written


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
