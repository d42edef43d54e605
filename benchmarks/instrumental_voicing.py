"""False alarms where nobody sings: voicing decisions on instrumental music the separator never heard.

MIR-1K's clips sing most of the time, over accompaniments the separator trained on; a user's song
has intros, solos and outros. Each clip of the measuring half of the screened game music
(``voicing_train.instrumental_tracks(..., half=1)``: tracks that ``vocalsep train-voicing`` does not
fit on) is separated once by the bundled separator, tracked as ``vocalsep pitch`` tracks a song, and
every voicing decision is scored by the share of frames it calls sung (all of them are false alarms)
and by the notes it would write per minute.

Usage::

    python benchmarks/instrumental_voicing.py --voicing old=0.4/-20 --voicing shipped \\
        --voicing new=runs/voicing.npz@0.6          # ~5 minutes on one core
"""

from __future__ import annotations

import argparse

import numpy as np

from vocalsep.audio.io import load_audio
from vocalsep.melody.notes import segment_notes
from vocalsep.melody.tracking import MELODY_HOP, track_pitch
from vocalsep.melody.voicing import VoicingModel
from vocalsep.separation.separator import Separator
from vocalsep.threads import set_threads
from vocalsep.training.voicing_train import instrumental_tracks


def decision(spec: str) -> tuple[str, dict[str, object]]:
    """``NAME=THRESHOLD/GATE`` (the threshold rule), ``NAME=PATH[@PROBABILITY]`` (a voicing model) or
    ``shipped`` (what ``vocalsep pitch`` does) -> a row name and ``track_pitch``'s voicing arguments."""
    name, _, rest = spec.partition("=")
    if not rest:
        return name, {}
    if ".npz" not in rest:
        threshold, gate = rest.split("/")
        return name, {"threshold": float(threshold), "gate_db": float(gate), "voicing": None}
    path, _, probability = rest.partition("@")
    model = VoicingModel.load(path)
    return name, {"voicing": model.with_threshold(float(probability)) if probability else model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voicing", action="append", required=True, help="a decision (see decision())")
    parser.add_argument("--folder", default=".data/instrumentals/clips", help="scripts/fetch_instrumentals.py's clips")
    parser.add_argument("--limit", type=int, help="only every n-th clip, for a quick look")
    args = parser.parse_args()
    set_threads(1)
    decisions = dict(decision(spec) for spec in args.voicing)
    clips = instrumental_tracks([args.folder], half=1)
    clips = clips[:: args.limit] if args.limit else clips
    separator = Separator.from_pretrained("default")
    sung = {name: 0 for name in decisions}
    notes = {name: 0 for name in decisions}
    frames, seconds = 0, 0.0
    for number, path in enumerate(clips):
        waveform, rate = load_audio(path)
        vocals = separator.separate(waveform, rate).vocals
        seconds += waveform.shape[1] / rate
        for name, settings in decisions.items():
            track = track_pitch(vocals, rate, hop=MELODY_HOP, mixture=waveform, **settings)  # type: ignore[arg-type]
            sung[name] += int(track.voiced.sum())
            notes[name] += len(segment_notes(track))
        frames += len(track)
        print(f"{number + 1}/{len(clips)} {path.name}", flush=True)
    print(f"\n{len(clips)} instrumental clips, {seconds / 60:.1f} minutes, nobody sings\n")
    print("| decision | frames called sung | notes per minute |")
    print("|---|---|---|")
    for name in decisions:
        print(f"| {name} | {100 * sung[name] / frames:.1f} % | {notes[name] / (seconds / 60):.1f} |")


if __name__ == "__main__":
    main()
