"""Levers on the melody's accuracy with a song in, fitted on MIR-1K's training singers, scored on the unseen ones.

For every clip of the training singers (``TRAINING_SINGERS``) and of the unseen singers
(``UNSEEN_SINGERS``) the mixture is separated by the bundled model at each ``--aggressiveness``,
and CREPE tiny (as shipped: int8, 20 ms) tracks the separated vocals and the mixture. Per frame
the script keeps the pitch, the confidence, the vocals' level re. their loud end and the
vocals-to-mixture ratio, then scores with ``mir_eval.melody`` (mean over clips):

- ``shipped``: confidence >= 0.5 and the -30 dB silence gate (what ``vocalsep pitch`` does);
- ``learned voicing``: a logistic regression on the confidence, the level, the ratio, the
  mixture's level and two products, fitted (Newton's method) on the training singers' frames;
- ``mixture fallback``: the mixture's pitch where the vocals are more than 20 dB below it and the
  mixture's CREPE is the more confident;
- a softer (or harder) mask for the tracker: every row again at each aggressiveness.

Also printed: where the wrong frames are (by vocals-to-mixture ratio). Usage::

    python benchmarks/pitch_levers.py --aggressiveness 0,-1        # ~25 minutes on one core
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vocalsep.audio.io import load_audio, resample
from vocalsep.evaluation.melody import TRAINING_SINGERS, UNSEEN_SINGERS, mir1k_clips, read_mir1k_pitch
from vocalsep.melody.tracking import MELODY_HOP, frame_energy, levels_db, track_pitch
from vocalsep.separation.separator import Separator
from vocalsep.threads import set_threads

MIR1K = Path(__file__).resolve().parents[2] / "shared" / "data" / "MIR-1K"
HOP_SAMPLES = int(MELODY_HOP * 16000)


def clip_frames(clip: Path, separators: dict[float, Separator]) -> dict[str, object]:
    """Labels and per-frame features of one clip: the mixture's track, and per aggressiveness the vocals'."""
    waveform, rate = load_audio(clip)
    mixture = waveform[0:1] + waveform[1:2]
    times, reference = read_mir1k_pitch(clip.parent.parent / "PitchLabel" / f"{clip.stem}.pv")
    mixture_track = track_pitch(mixture, rate, hop=MELODY_HOP, gate_db=None)
    mixture_energy = frame_energy(resample(mixture[0], rate, 16000), HOP_SAMPLES)
    record: dict[str, object] = {"times": times, "reference": reference, "mixture_f0": mixture_track.frequency,
                                 "mixture_confidence": mixture_track.confidence, "mixture_energy": mixture_energy}
    for aggressiveness, separator in separators.items():
        vocals = separator.separate(mixture, rate).vocals
        track = track_pitch(vocals, rate, hop=MELODY_HOP, gate_db=None)
        record[aggressiveness] = (track.frequency, track.confidence,
                                  frame_energy(resample(vocals.mean(axis=0), rate, 16000), HOP_SAMPLES))
    return record


def features(record: dict[str, object], aggressiveness: float) -> dict[str, np.ndarray]:
    f0, confidence, energy = record[aggressiveness]  # type: ignore[misc]
    frames = min(f0.size, record["mixture_energy"].size)  # type: ignore[union-attr]
    mixture_energy = record["mixture_energy"][:frames]  # type: ignore[index]
    ratio = 10 * np.log10(np.maximum(energy[:frames], 1e-12) / np.maximum(mixture_energy, 1e-12))
    return {"f0": f0[:frames], "confidence": confidence[:frames], "level": np.maximum(levels_db(energy[:frames]), -80),
            "ratio": np.clip(ratio, -60, 10), "mixture_level": np.maximum(levels_db(mixture_energy), -80),
            "mixture_f0": record["mixture_f0"][:frames],  # type: ignore[index]
            "mixture_confidence": record["mixture_confidence"][:frames]}  # type: ignore[index]


def design(frame: dict[str, np.ndarray]) -> np.ndarray:
    c, level, ratio, mixture = frame["confidence"], frame["level"] / 20, frame["ratio"] / 20, frame["mixture_level"] / 20
    return np.stack([c, level, ratio, c * level, c * ratio, mixture, np.ones_like(c)], axis=1)


def voiced_labels(record: dict[str, object], frames: int) -> np.ndarray:
    reference = record["reference"]  # label i is at 0.02 i s, as our frame i
    labels = np.zeros(frames, bool)
    count = min(reference.size, frames)  # type: ignore[union-attr]
    labels[:count] = reference[:count] > 0  # type: ignore[index]
    return labels


def fit_logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    weights = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-x @ weights))
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(x.shape[1])
        weights -= np.linalg.solve(hessian, x.T @ (p - y))
    return weights


def scores(record: dict[str, object], f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    import mir_eval

    times = np.arange(f0.size) * MELODY_HOP
    result = mir_eval.melody.evaluate(record["times"], record["reference"], times, np.where(voiced, f0, -np.abs(f0)))
    return np.array([result["Raw Pitch Accuracy"], result["Overall Accuracy"], result["Voicing False Alarm"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mir1k", type=Path, default=MIR1K)
    parser.add_argument("--aggressiveness", default="0,-1", help="separator aggressiveness values, comma-separated")
    args = parser.parse_args()
    set_threads(1)
    base = Separator.from_pretrained("default")
    separators = {float(a): base.with_aggressiveness(float(a)) for a in args.aggressiveness.split(",")}
    data = {name: [clip_frames(clip, separators) for clip in mir1k_clips(args.mir1k, singers=singers)]
            for name, singers in (("training", TRAINING_SINGERS), ("unseen", UNSEEN_SINGERS))}
    print(f"{'singers':>9} {'aggr.':>6} {'rule':>18} {'RPA':>6} {'OA':>6} {'VFA':>6}")
    for aggressiveness in separators:
        frames = {name: [features(r, aggressiveness) for r in records] for name, records in data.items()}
        x = np.concatenate([design(f) for f in frames["training"]])
        y = np.concatenate([voiced_labels(r, f["f0"].size) for r, f in zip(data["training"], frames["training"])])
        weights = fit_logistic(x, y.astype(np.float64))
        for name, records in data.items():
            rows: dict[str, list[np.ndarray]] = {"shipped": [], "learned voicing": [], "mixture fallback": []}
            for record, f in zip(records, frames[name]):
                shipped = (f["confidence"] >= 0.5) & (f["level"] >= -30)
                rows["shipped"].append(scores(record, f["f0"], shipped))
                rows["learned voicing"].append(scores(record, f["f0"], design(f) @ weights > 0))
                fallback = (f["ratio"] < -20) & (f["mixture_confidence"] > f["confidence"])
                rows["mixture fallback"].append(scores(record, np.where(fallback, f["mixture_f0"], f["f0"]), shipped))
            for rule, values in rows.items():
                rpa, oa, vfa = 100 * np.mean(values, axis=0)
                print(f"{name:>9} {aggressiveness:>6g} {rule:>18} {rpa:>6.2f} {oa:>6.2f} {vfa:>6.2f}", flush=True)
        print(f"{'':>9} {aggressiveness:>6g} voicing weights {np.round(weights, 2).tolist()}")
    for name, records in data.items():
        wrong, ratio = [], []
        for record in records:
            f = features(record, next(iter(separators)))
            reference = record["reference"][: f["f0"].size]  # type: ignore[index]
            voiced = reference > 0
            cents = 1200 * np.abs(np.log2(np.maximum(f["f0"][: reference.size][voiced], 1e-3) / reference[voiced]))
            wrong.append(cents > 50)
            ratio.append(f["ratio"][: reference.size][voiced])
        w, r = np.concatenate(wrong), np.concatenate(ratio)
        print(f"{name}: {w.size} voiced frames, {100 * w.mean():.1f} % wrong; by vocals-to-mixture ratio:")
        for low, high in ((-60, -20), (-20, -10), (-10, -5), (-5, 10)):
            share = (r >= low) & (r < high)
            print(f"  {low:>4} to {high:>3} dB: {100 * share.mean():5.1f} % of frames, {100 * w[share].mean():5.1f} % "
                  f"of them wrong ({100 * (w & share).mean():.1f} points)")


if __name__ == "__main__":
    main()
