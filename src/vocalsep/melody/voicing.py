"""A learned voicing decision: is somebody singing in this frame of a song?

CREPE's peak confidence says how clearly a frame holds *a* pitch; in a separated voice that also
holds what the separator leaked (a low instrument, a chord) and a sung frame the separator turned
down. The learned decision looks at more than the peak: the confidence around the frame, how loud
the separated voice is against the singing and the song nearby and against the mixture in the same
frame, how steady the pitch is, and how bright the separated voice sounds (a leaked bass line or pad is dark).
A small network (``VoicingModel``: 16 features, one hidden layer of 32) turns them into the
probability that the frame is sung.

It was fitted (``vocalsep train-voicing``, ``training/voicing_train.py``) on the training singers'
remix songs, separated by the shipped separator and tracked by the shipped tracker; the singers it
is scored on (``Ani``, ``annar``, ``ariel``) are in none of them. It replaces the confidence
threshold and the nearby silence gate when the tracker hears the song (``vocalsep pitch``, song
in); the clean voice (``--no-separate``) keeps the threshold. Features are measured in seconds, so a
hop other than the 20 ms it was fitted at gets the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from vocalsep.errors import ModelLoadError

#: The bundled voicing network (``VoicingModel.save``), beside the tracker's weights.
VOICING_FILE = "voicing-mlp.npz"
#: The hop the features were fitted at; pitch steps are expressed per this many seconds.
FEATURE_HOP = 0.02
#: Seconds of the short and long confidence averages, and of the local extremes.
SHORT_SECONDS, LONG_SECONDS = 0.1, 0.22
#: The loud end "nearby": the largest 0.1 s energy average within this many seconds on either side
#: (as the silence gate measures it).
NEARBY_SECONDS = 5.0
#: Names of the features, in the network's order.
FEATURE_NAMES = (
    "confidence", "confidence, 0.1 s mean", "confidence, 0.22 s mean", "confidence, 0.1 s max", "confidence, 0.1 s min",
    "voice re. its nearby loud end (dB)", "voice re. the song's nearby loud end (dB)", "voice re. the song (dB)",
    "song re. its nearby loud end (dB)", "pitch step from the previous frame (semitones)",
    "pitch step to the next frame (semitones)", "largest pitch step, 0.1 s mean (semitones)", "pitch (octaves re. 10 Hz)",
    "voice re. the song, 0.22 s mean (dB)", "brightness of the voice (dB)", "brightness of the voice, 0.22 s mean (dB)",
)



def _frames(seconds: float, hop: float) -> int:
    return max(1, int(round(seconds / hop)))


def _db(energy: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(energy, 1e-12))


def nearby_loud_end(energy: np.ndarray, hop: float, span_seconds: float = NEARBY_SECONDS,
                    smoothing_seconds: float = SHORT_SECONDS) -> np.ndarray:
    """The largest ``smoothing_seconds`` average of ``energy`` within ``span_seconds`` on either side
    (the silence gate's reference too, ``tracking.gate_passes``)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    energy = np.maximum(np.asarray(energy, dtype=np.float64), 0.0)
    if energy.size == 0:
        return energy
    smooth = uniform_filter1d(energy, _frames(smoothing_seconds, hop), mode="nearest")
    return maximum_filter1d(smooth, 2 * _frames(span_seconds, hop) + 1, mode="nearest")


def voicing_features(confidence: np.ndarray, frequency: np.ndarray, voice_energy: np.ndarray,
                     song_energy: np.ndarray, voice_slope_energy: np.ndarray, hop: float) -> np.ndarray:
    """The learned decision's inputs, one row per frame.

    Parameters
    ----------
    confidence, frequency : ndarray, shape (frames,)
        The tracker's peak confidence and F0 (Hz; 0 where it has no estimate).
    voice_energy, song_energy : ndarray, shape (frames,)
        ``tracking.frame_energy`` of the separated voice and of the song, same frames.
    voice_slope_energy : ndarray, shape (frames,)
        ``tracking.frame_slope_energy`` of the separated voice.
    hop : float
        Seconds between frames.

    Returns
    -------
    ndarray, shape (frames, len(FEATURE_NAMES)), float64
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

    frames = np.asarray(confidence).size
    confidence = np.asarray(confidence, dtype=np.float64)
    if frames == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    voice, song = np.asarray(voice_energy, np.float64)[:frames], np.asarray(song_energy, np.float64)[:frames]
    short, long = _frames(SHORT_SECONDS, hop), _frames(LONG_SECONDS, hop)
    voice_db, song_db = _db(voice), _db(song)
    voice_near, song_near = _db(nearby_loud_end(voice, hop)), _db(nearby_loud_end(song, hop))
    ratio = np.clip(voice_db - song_db, -60.0, 10.0)
    brightness = np.clip(_db(np.asarray(voice_slope_energy, np.float64)[:frames]) - voice_db, -40.0, 10.0)
    cents = 1200.0 * np.log2(np.maximum(np.asarray(frequency, dtype=np.float64), 1.0) / 10.0)
    per_hop = FEATURE_HOP / hop  # pitch steps as if frames were FEATURE_HOP apart
    previous = np.minimum(np.abs(np.diff(cents, prepend=cents[0])) * per_hop, 1200.0) / 100.0
    following = np.minimum(np.abs(np.diff(cents, append=cents[-1])) * per_hop, 1200.0) / 100.0
    return np.stack([
        confidence,
        uniform_filter1d(confidence, short, mode="nearest"),
        uniform_filter1d(confidence, long, mode="nearest"),
        maximum_filter1d(confidence, short, mode="nearest"),
        minimum_filter1d(confidence, short, mode="nearest"),
        np.clip(voice_db - voice_near, -60.0, 0.0),
        np.clip(voice_db - song_near, -80.0, 10.0),
        ratio,
        np.clip(song_db - song_near, -80.0, 0.0),
        previous,
        following,
        uniform_filter1d(np.maximum(previous, following), short, mode="nearest"),
        cents / 1200.0,
        uniform_filter1d(ratio, long, mode="nearest"),
        brightness,
        uniform_filter1d(brightness, long, mode="nearest"),
    ], axis=1)


@dataclass(frozen=True)
class VoicingModel:
    """Features -> probability that a frame is sung: standardised, one ReLU layer, a sigmoid.

    Attributes
    ----------
    mean, scale : ndarray, shape (features,)
        Standardisation of the inputs.
    hidden_weights, hidden_bias : ndarray, shape (hidden, features), (hidden,)
    output_weights, output_bias : ndarray, shape (hidden,), ()
    threshold : float
        Probability from which a frame is voiced.
    """

    mean: np.ndarray
    scale: np.ndarray
    hidden_weights: np.ndarray
    hidden_bias: np.ndarray
    output_weights: np.ndarray
    output_bias: float
    threshold: float = 0.5

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Probability per row of ``features`` (frames, features)."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        hidden = np.maximum(x @ self.hidden_weights.T + self.hidden_bias, 0.0)
        logit = hidden @ self.output_weights + self.output_bias
        return 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic function, without overflow

    def voiced(self, features: np.ndarray) -> np.ndarray:
        return self.probability(features) >= self.threshold

    def save(self, path: str | Path) -> Path:
        """Write the model as a ``.npz`` (atomically)."""
        from vocalsep.files import atomic_output

        path = Path(path)
        with atomic_output(path, suffix=".npz") as temp_name:
            np.savez(temp_name, mean=self.mean, scale=self.scale, hidden_weights=self.hidden_weights,
                     hidden_bias=self.hidden_bias, output_weights=self.output_weights,
                     output_bias=np.float64(self.output_bias), threshold=np.float64(self.threshold),
                     features=np.array(FEATURE_NAMES))
        return path

    @classmethod
    def load(cls, path: str | Path) -> VoicingModel:
        """Read a model ``save`` wrote; a file of other features is refused."""
        try:
            with np.load(path) as data:
                if tuple(str(name) for name in data["features"]) != FEATURE_NAMES:
                    raise ModelLoadError(f"{path}: a voicing model of other features")
                return cls(data["mean"], data["scale"], data["hidden_weights"], data["hidden_bias"],
                           data["output_weights"], float(data["output_bias"]), float(data["threshold"]))
        except (OSError, KeyError, ValueError) as error:
            raise ModelLoadError(f"{path}: not a voicing model ({error})") from None

    def with_threshold(self, threshold: float) -> VoicingModel:
        import dataclasses

        return dataclasses.replace(self, threshold=float(threshold))


_BUNDLED: list[VoicingModel] = []


def bundled_voicing() -> VoicingModel:
    """The voicing model shipped beside the tracker (loaded once)."""
    if not _BUNDLED:
        path = resources.files("vocalsep.melody") / "pitch_models" / VOICING_FILE
        with resources.as_file(path) as file:
            _BUNDLED.append(VoicingModel.load(file))
    return _BUNDLED[0]
