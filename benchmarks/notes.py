"""Note-level scores of `vocalsep pitch`'s notes against vocadito's two annotators (a sanity check).

The segmentation's parameters (``melody.notes.segment_notes``: 80 ms, ±0.75 semitone, 40 ms
gaps, 50 ms smoothing) were set before vocadito's notes were looked at and are not tuned here.
For each vocadito clip with note annotations (``Annotations/Notes/<clip>_notesA1.csv`` and
``A2``), CREPE tiny tracks the clean voice and our separation of it; ``mir_eval.transcription``
scores the notes (onset F: onset within 50 ms and pitch within 50 cents; onset-offset F: also
the offset within 20 % of the duration). Usage::

    python benchmarks/notes.py [--vocadito ../shared/data/vocadito-sample/vocadito]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vocalsep.audio.io import load_audio
from vocalsep.evaluation.melody import note_scores, read_note_annotation
from vocalsep.melody.notes import Note, segment_notes
from vocalsep.melody.tracking import MELODY_HOP, track_pitch
from vocalsep.separation.separator import Separator

VOCADITO = Path(__file__).resolve().parents[2] / "shared" / "data" / "vocadito-sample" / "vocadito"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocadito", type=Path, default=VOCADITO)
    args = parser.parse_args()
    separator = Separator.from_pretrained("default")
    print(f"{'clip':<14} {'condition':<10} {'annotator':<9} {'notes':>5} {'ref':>4} "
          f"{'onset P':>8} {'onset R':>8} {'onset F':>8} {'on+off F':>9}")
    for audio_path in sorted((args.vocadito / "Audio").glob("*.wav")):
        annotations = sorted((args.vocadito / "Annotations" / "Notes").glob(f"{audio_path.stem}_notes*.csv"))
        if not annotations:
            continue
        if len(annotations) == 2:  # how far the annotators agree: the ceiling of any transcription
            first, second = (read_note_annotation(path) for path in annotations)
            as_notes = [Note(a, b, 0, hz) for (a, b), hz in zip(*second)]
            agreement = note_scores(first, as_notes)
            print(f"{audio_path.stem:<14} {'A2 vs A1':<10} {'-':<9} {len(as_notes):>5} {len(first[1]):>4} "
                  f"{agreement['onset_P']:>8.3f} {agreement['onset_R']:>8.3f} {agreement['onset_F']:>8.3f} "
                  f"{agreement['onset_offset_F']:>9.3f}")
        audio, rate = load_audio(audio_path)
        conditions = {"clean": audio, "separated": separator.separate(audio, rate).vocals}
        for condition, voice in conditions.items():
            notes = segment_notes(track_pitch(voice, rate, hop=MELODY_HOP))  # as `vocalsep pitch`
            for path in annotations:
                reference = read_note_annotation(path)
                scores = note_scores(reference, notes)
                annotator = path.stem.rsplit("_notes", 1)[1]
                print(f"{audio_path.stem:<14} {condition:<10} {annotator:<9} {len(notes):>5} {len(reference[1]):>4} "
                      f"{scores['onset_P']:>8.3f} {scores['onset_R']:>8.3f} {scores['onset_F']:>8.3f} "
                      f"{scores['onset_offset_F']:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
