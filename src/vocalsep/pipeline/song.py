"""One pipeline: a song becomes stems, melody and pictures, in one streamed pass, then files.

The song is decoded block by block and separated once (``separate_stream``); every block of
vocals goes at once to the stem writers, the pitch tracker and the picture accumulators, so
memory does not grow with the song's length. Nothing is published before everything is
computed and drawn; then the stems (a pair, under a folder lock) and the other files are
renamed into place, and a failure removes whatever this call had already published.
Every front end (``vocalsep separate``, ``pitch``, ``plot``, the web page) calls ``process_song``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vocalsep.audio.encode import COMPRESSED, check_channels, encoded_rate
from vocalsep.audio.io import AudioReader, AudioWriter, Resampler
from vocalsep.config import STEM_NAMES
from vocalsep.errors import AudioWriteError, ConfigError, SampleRangeError
from vocalsep.files import atomic_write_bytes, folder_lock
from vocalsep.heap import HeapTrimmer
from vocalsep.melody.beats import BeatStream
from vocalsep.melody.grid import QUANTIZE_DIVISIONS, BeatGrid, beats_csv, quantize_notes
from vocalsep.melody.key import Key, estimate_key
from vocalsep.melody.notes import Note, midi_bytes, segment_notes, write_notes_csv
from vocalsep.melody.sheet import SHEET_DIVISION, musicxml_bytes
from vocalsep.melody.summary import MelodySummary, summary_json
from vocalsep.melody.tracking import (
    ANALYSIS_RATE, MELODY_HOP, DEFAULT_TRACKER, MELODY_FILES, PitchStream, PitchTrack, summarize, write_f0_csv,
)
from vocalsep.pipeline.naming import output_paths, track_name
from vocalsep.pipeline.spectra import CqtStream, LogSpectrogramStream
from vocalsep.pipeline.stems import flac_can_store, output_gain, progress_bar, stem_subtype

if TYPE_CHECKING:
    from vocalsep.separation.separator import Separator

#: Pictures ``process_song`` can draw, by name (written as ``<name>.png``).
PICTURES = ("spectrograms", "melody")
#: ``octave_shift`` goes from -3 to 3 octaves.
MAX_OCTAVE_SHIFT = 3
#: What the analyses (tracker, beats, pictures) hear is scaled under this peak: samples near
#: float32's maximum would overflow their squares. Real recordings stay far below it (gain 1).
ANALYSIS_PEAK = 2.0**20


@dataclass(frozen=True)
class MelodyResult:
    """The sung melody of a song, and the files it was written to.

    ``grid`` (tempo, beats, bars) and ``key`` are there when the melody's files were made:
    they come from the song's beats, which only ``melody=True`` tracks.
    """

    track: PitchTrack
    notes: list[Note]
    summary: MelodySummary
    paths: dict[str, Path]
    grid: BeatGrid | None = None
    key: Key | None = None


@dataclass(frozen=True)
class SongResult:
    """What ``process_song`` wrote: ``paths`` by name (``vocals``, ``accompaniment``, the ``MELODY_FILES``
    ``f0.csv`` to ``melody.json``, ``spectrograms.png``, ``melody.png``) and the melody if tracked."""

    paths: dict[str, Path]
    melody: MelodyResult | None = None
    skipped: bool = False  # every output was already there (``skip_existing``): nothing was done


class _Voice:
    """Where the vocals go while they stream: the vocals spectrogram, the tracker, the CQT and the
    beat tracker's onset envelope (each optional; the beats hear the mixture when there is one)."""

    def __init__(self, rate: int, spectrogram: LogSpectrogramStream | None, pitch: PitchStream | None,
                 cqt: CqtStream | None, beats: BeatStream | None = None) -> None:
        self.spectrogram, self.pitch, self.cqt, self.beats = spectrogram, pitch, cqt, beats
        # the tracker's input: the channel average at 16 kHz, resampled as the whole signal would be
        self.to_analysis: Resampler | None = None
        if (pitch or cqt or beats) and rate != ANALYSIS_RATE:
            self.to_analysis = Resampler(rate, ANALYSIS_RATE)

    def push(self, vocals: np.ndarray, *, spectrogram: np.ndarray | None = None,
             mixture: np.ndarray | None = None) -> None:
        """A block of vocals (channels, n) and, when separating, the same block of the mixture
        (the tracker hears the song beside the voice: row 1 of what it analyses)."""
        if self.spectrogram is not None:
            self.spectrogram.push(vocals if spectrogram is None else spectrogram)
        if self.pitch or self.cqt or self.beats:
            mono = vocals.mean(axis=0, dtype=np.float32)[None]
            if mixture is not None and (self.beats is not None or self.pitch is not None and self.pitch.takes_song):
                mono = np.concatenate([mono, mixture.mean(axis=0, dtype=np.float32)[None]])
            self._analyse(self.to_analysis.push(mono) if self.to_analysis else mono)

    def finish(self) -> None:
        if self.to_analysis is not None:
            self._analyse(self.to_analysis.finish())
        if self.cqt is not None:
            self.cqt.finish()

    def _analyse(self, mono: np.ndarray) -> None:
        if mono.shape[1] == 0:
            return
        if self.pitch is not None:  # where neither the tracker nor the voicing hears the song, the mixture is ignored
            self.pitch.push(mono[0], mixture=mono[1] if mono.shape[0] > 1 else None)
        if self.cqt is not None:
            self.cqt.push(mono[0])
        if self.beats is not None:
            self.beats.push(mono[-1])  # the mixture, or the voice alone


class _Headroom:
    """The gain of what the analyses hear: 1, unless samples exceed ``ANALYSIS_PEAK`` (a float file
    near float32's maximum); then a power of two that brings them under it (exact: only exponents
    change), kept for the rest of the song. The stems are written from the unscaled blocks."""

    def __init__(self) -> None:
        self.gain = 1.0

    def __call__(self, *blocks: np.ndarray) -> list[np.ndarray]:
        peak = max((float(np.max(np.abs(block))) for block in blocks if block.size), default=0.0)
        if peak * self.gain > ANALYSIS_PEAK:
            self.gain = float(2.0 ** -np.ceil(np.log2(peak / ANALYSIS_PEAK)))
        return list(blocks) if self.gain == 1.0 else [block * np.float32(self.gain) for block in blocks]


def process_song(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    stems: bool = True,
    melody: bool = False,
    pictures: Iterable[str] = (),
    separate: bool = True,
    vocals_path: str | Path | None = None,
    separator: Separator | None = None,
    model: str | Path = "default",
    aggressiveness: float | None = None,
    tracker: str = DEFAULT_TRACKER,
    hop: float = MELODY_HOP,
    audio_format: str = "wav",
    bits: int | None = None,
    bitrate: int | None = None,
    clip: str = "rescale",
    overwrite: bool = False,
    skip_existing: bool = False,
    progress: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
    device: str = "cpu",
    quantize: int | None = None,
    octave_shift: int = 0,
) -> SongResult:
    """Make a song's stems, melody files and pictures in one streamed pass; files go to ``output_dir/<track>/``.

    Parameters
    ----------
    input_path : str or Path
        A song; or an isolated voice when ``separate`` is False and ``vocals_path`` is None.
    output_dir : str or Path
    stems : bool
        Write ``vocals.<audio_format>`` and ``accompaniment.<audio_format>`` (needs separation).
    melody : bool
        Write ``f0.csv``, ``notes.csv``, ``notes.mid``, ``beats.csv``, ``melody.musicxml`` and
        ``melody.json`` (``MELODY_FILES``). The beats are tracked on the mixture (on the voice
        when the input is the voice alone, or beside a ``vocals_path``).
    pictures : iterable of {"spectrograms", "melody"}
        Pictures to draw; ``spectrograms`` needs a mixture and vocals (separation or
        ``vocals_path``) and is skipped without them.
    separate : bool
        Separate the voice with ``separator`` (or ``model``); False treats the input as the voice.
    vocals_path : str or Path, optional
        Already separated vocals of ``input_path``: nothing is separated.
    separator : Separator, optional
    model : str or Path
        Bundled model name or checkpoint path, used when separating without ``separator``.
    aggressiveness : float, optional
        How hard the voice is taken out (``Separator``'s); default: the separator's own (0).
    tracker : {"crepe-tiny", "pyin"}
    hop : float
        Seconds between F0 frames.
    audio_format, bits, bitrate, clip
        Stem files, as ``separate_file``.
    overwrite : bool
        Replace existing outputs instead of refusing.
    skip_existing : bool
        Return at once when every output exists; redo them all when only some do.
    progress : bool
        Show a progress bar on stderr.
    on_progress : callable, optional
        ``on_progress(samples_done, total_samples)`` as the song streams (``total_samples``
        None when the decoder cannot tell the length).
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the networks run: the pitch tracker's, and the separator's when it is loaded here
        (a given ``separator`` keeps its own). A missing GPU is a ``ConfigError`` before any file is touched.
    quantize : {1, 2, 3, 4, 6, 8}, optional
        Snap the notes' onsets and offsets to this fraction of a beat (4: sixteenths) in every
        melody file; by default they keep their sung times (the score is always on a grid).
    octave_shift : int
        Move the whole contour by this many octaves (-3 to 3): the correction for a tracker
        that heard the song an octave off.

    Returns
    -------
    SongResult
    """
    from vocalsep.device import resolve_device

    device = resolve_device(device)
    input_path = Path(input_path)
    pictures = tuple(pictures)
    unknown = set(pictures) - set(PICTURES)
    if unknown:
        raise ConfigError(f"unknown picture(s) {', '.join(sorted(unknown))} (use {', '.join(PICTURES)})")
    separating = separate and vocals_path is None
    if stems and not separating:
        raise ConfigError("stems are made by separating: give no vocals file and keep separation on")
    if quantize is not None and quantize not in QUANTIZE_DIVISIONS:
        raise ConfigError(f"quantize must be one of {', '.join(map(str, QUANTIZE_DIVISIONS))} steps per beat")
    if not (isinstance(octave_shift, int) and abs(octave_shift) <= MAX_OCTAVE_SHIFT):
        raise ConfigError(f"octave_shift must be a whole number from -{MAX_OCTAVE_SHIFT} to {MAX_OCTAVE_SHIFT}")
    if not separating and vocals_path is None:
        pictures = tuple(p for p in pictures if p != "spectrograms")  # the voice alone: no mixture to compare
    subtype = stem_subtype(audio_format, bits) if stems else ""
    folder = Path(output_dir) / track_name(input_path)
    paths = dict(output_paths(input_path, output_dir, audio_format, STEM_NAMES)) if stems else {}
    paths |= {name: folder / name for name in (MELODY_FILES if melody else ())}
    paths |= {f"{name}.png": folder / f"{name}.png" for name in PICTURES if name in pictures}
    if skip_existing:
        if all(path.exists() for path in paths.values()):
            return SongResult(paths, skipped=True)
        overwrite = True  # a partial set is what an interrupted run leaves: redo it
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise AudioWriteError(f"{path} exists (use --overwrite to replace it)")
    reader = AudioReader(input_path)
    rate = reader.sample_rate
    if stems and audio_format == "flac" and not flac_can_store(rate):
        raise AudioWriteError(f"{input_path}: flac cannot store a rate of {rate} Hz (use wav)")
    if stems and audio_format in COMPRESSED:
        check_channels(audio_format, reader.channels)  # before minutes of separation, not after
        if encoded_rate(audio_format, rate) != rate:
            warnings.warn(f"{input_path.name}: {audio_format} cannot store {rate} Hz; "
                          f"its stems are written at {encoded_rate(audio_format, rate)} Hz", stacklevel=2)
    if separating:  # torch comes with the separator: a voice alone is tracked without it
        from vocalsep.separation.separator import Separator
        from vocalsep.separation.streaming import separate_stream

        separator = Separator.from_pretrained(model, device=device) if separator is None else separator
        if aggressiveness is not None:
            separator = separator.with_aggressiveness(aggressiveness)
    vocals_reader = AudioReader(vocals_path) if vocals_path is not None else None
    voice_rate = vocals_reader.sample_rate if vocals_reader else rate
    voice_frames = vocals_reader.frames if vocals_reader else reader.frames

    def spectrogram() -> LogSpectrogramStream | None:
        return LogSpectrogramStream(rate, expected_samples=reader.frames) if "spectrograms" in pictures else None

    tracking = melody or "melody" in pictures
    analysis_samples = None if voice_frames is None else -(-voice_frames * ANALYSIS_RATE // voice_rate)
    mixture_spectrogram = spectrogram()
    voice = _Voice(voice_rate, spectrogram(), PitchStream(tracker=tracker, hop=hop, device=device) if tracking else None,
                   CqtStream(expected_samples=analysis_samples) if "melody" in pictures else None,
                   BeatStream() if melody else None)
    headroom = _Headroom()
    trimmer = HeapTrimmer(30 * rate)  # an hour's stream must not keep the heap's free space
    writers: dict[str, AudioWriter] = {}
    published: list[Path] = []
    try:
        if stems:
            writers = {stem: AudioWriter(paths[stem], rate, reader.channels) for stem in STEM_NAMES}
        with progress_bar(reader.frames, input_path.name, progress) as update:
            done = 0
            if separating:
                for vocals, accompaniment in separate_stream(separator, reader.blocks(), rate, progress=update):
                    if writers:
                        writers["vocals"].write(vocals)
                        writers["accompaniment"].write(accompaniment)
                    heard, rest = headroom(vocals, accompaniment)  # the analyses' copy; the stems stay as they are
                    mixture = heard + rest
                    if mixture_spectrogram is not None:
                        mixture_spectrogram.push(mixture)
                    voice.push(heard, mixture=mixture)
                    done += vocals.shape[1]
                    trimmer.advance(vocals.shape[1])
                    if on_progress is not None:
                        on_progress(done, reader.frames)
            else:
                _stream_inputs(reader, vocals_reader, mixture_spectrogram, voice, rate, update, on_progress, headroom,
                               trimmer)
        voice.finish()
        result = _melody(voice, paths, quantize=quantize, octave_shift=octave_shift) if tracking else None
        files = _melody_files(result, input_path.stem, quantize) if melody and result is not None else {}
        drawn = _draw(input_path, pictures, mixture_spectrogram, voice, result)
        if writers:
            peak = max(writer.peak for writer in writers.values())
            gain = output_gain(peak, "none" if subtype == "FLOAT" else clip)
            for stem in STEM_NAMES:  # the slow conversions first, then the pair of renames
                writers[stem].commit(subtype=subtype, gain=gain, overwrite=overwrite, publish=False, kbps=bitrate)
            with folder_lock(paths["vocals"].parent):  # another process's pair never mixes with ours
                for stem in STEM_NAMES:
                    published.append(writers[stem].publish(overwrite=overwrite))
        if melody and result is not None:
            published.append(write_f0_csv(result.track, paths["f0.csv"]))
            published.append(write_notes_csv(result.notes, paths["notes.csv"]))
        for name, data in (files | drawn).items():
            published.append(atomic_write_bytes(paths[name], data))
    except BaseException as error:
        for writer in writers.values():
            writer.discard()
        for path in published:  # a partial set would look like a finished result
            path.unlink(missing_ok=True)
        if isinstance(error, SampleRangeError):  # raised by the stream, which does not know the file
            raise SampleRangeError(f"{input_path}: {error}") from None
        raise
    if result is not None and not melody:
        result = replace(result, paths={})
    return SongResult(paths, result)


def _stream_inputs(
    reader: AudioReader, vocals_reader: AudioReader | None, mixture_spectrogram: LogSpectrogramStream | None,
    voice: _Voice, rate: int, update: Callable[[int], None] | None,
    on_progress: Callable[[int, int | None], None] | None, headroom: _Headroom, trimmer: HeapTrimmer,
) -> None:
    """No separation: the input is the voice, or the mixture beside a vocals file (read one after the other)."""
    if vocals_reader is None:
        voice_blocks, total = reader.blocks(), reader.frames
    else:
        if mixture_spectrogram is not None:
            for block in reader.blocks():
                mixture_spectrogram.push(headroom(block)[0])
        voice_blocks, total = vocals_reader.blocks(), vocals_reader.frames
    # the vocals spectrogram is drawn at the mixture's rate, on the mixture's grid
    to_mixture = Resampler(vocals_reader.sample_rate, rate) if (
        vocals_reader and vocals_reader.sample_rate != rate and voice.spectrogram is not None) else None
    done = 0
    for block in voice_blocks:
        block = headroom(block)[0]
        voice.push(block, spectrogram=to_mixture.push(block) if to_mixture else None)
        done += block.shape[1]
        trimmer.advance(block.shape[1])
        if update is not None:
            update(block.shape[1])
        if on_progress is not None:
            on_progress(done, total)
    if to_mixture is not None and voice.spectrogram is not None:
        voice.spectrogram.push(to_mixture.finish())


def _melody(voice: _Voice, paths: dict[str, Path], *, quantize: int | None, octave_shift: int) -> MelodyResult:
    """The contour (moved by ``octave_shift``), its notes (snapped to the beats with ``quantize``), beats and key."""
    assert voice.pitch is not None
    track = voice.pitch.finish()
    if octave_shift:
        track = replace(track, frequency=track.frequency * 2.0**octave_shift)
    notes = segment_notes(track)
    grid = voice.beats.finish() if voice.beats is not None else None
    if quantize and grid is not None:
        notes = quantize_notes(notes, grid, quantize)
    key = estimate_key(notes)
    summary = MelodySummary.of(summarize(track), key=key, grid=grid, notes=len(notes), octave_shift=octave_shift)
    return MelodyResult(track, notes, summary, {name: paths[name] for name in MELODY_FILES if name in paths},
                        grid=grid, key=key)


def _melody_files(melody: MelodyResult, title: str, quantize: int | None) -> dict[str, bytes]:
    """``notes.mid``, ``beats.csv``, ``melody.musicxml`` and ``melody.json`` as bytes (made before
    anything is published)."""
    grid = melody.grid or BeatGrid.steady()
    return {
        "notes.mid": midi_bytes(melody.notes, name=f"{title} vocals", grid=grid, key=melody.key),
        "beats.csv": beats_csv(grid).encode(),
        "melody.musicxml": musicxml_bytes(melody.notes, grid, key=melody.key, division=quantize or SHEET_DIVISION,
                                          title=title),
        "melody.json": summary_json(melody.summary).encode(),
    }


def _draw(input_path: Path, pictures: tuple[str, ...], mixture_spectrogram: LogSpectrogramStream | None,
          voice: _Voice, melody: MelodyResult | None) -> dict[str, bytes]:
    """PNG bytes of the requested pictures, by file name (drawn before anything is published)."""
    from vocalsep.pipeline.pictures import melody_png, melody_range, separation_png

    drawn = {}
    if "spectrograms" in pictures and mixture_spectrogram is not None and voice.spectrogram is not None:
        drawn["spectrograms.png"] = separation_png(mixture_spectrogram.finish(), voice.spectrogram.finish(),
                                                   title=input_path.name)
    if "melody" in pictures and melody is not None and voice.cqt is not None:
        spectrogram = voice.cqt.result(*melody_range(melody.track))
        drawn["melody.png"] = melody_png(spectrogram, melody.track, melody.notes,
                                         title=f"{input_path.name}: sung melody")
    return drawn


def plot_file(
    input_path: str | Path,
    output_dir: str | Path = "melody",
    *,
    vocals_path: str | Path | None = None,
    separate: bool = True,
    model: str | Path = "default",
    tracker: str = DEFAULT_TRACKER,
) -> list[Path]:
    """Draw ``spectrograms.png`` (when there is a mixture and vocals) and ``melody.png`` for one file.

    Pictures go to ``output_dir/<input stem>/`` (existing pictures are replaced); see
    ``process_song`` for the parameters. Returns the pictures written.
    """
    result = process_song(input_path, output_dir, stems=False, pictures=PICTURES, separate=separate,
                          vocals_path=vocals_path, model=model, tracker=tracker, overwrite=True)
    return [path for path in result.paths.values() if path.exists()]
