"""Stem files: sample formats, the clip policy, the progress bar of a streamed pass."""

from __future__ import annotations

import sys
import warnings

from vocalsep.audio.io import SUBTYPES
from vocalsep.errors import ConfigError
SUBTYPE_FOR_BITS = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


class ClippingWarning(UserWarning):
    """A stem exceeded full scale and was rescaled or clipped."""


def output_gain(peak: float, policy: str) -> float:
    """The gain that keeps integer output in range, by clip policy.

    ``rescale`` scales both stems by one factor when either peaks above full scale (they
    still sum to the equally scaled mixture); ``clip`` keeps the gain and lets the writer
    clip; ``none`` leaves samples as they are (for float output).
    """
    if policy not in ("rescale", "clip", "none"):
        raise ConfigError(f"unknown clip policy {policy!r} (use rescale, clip or none)")
    if policy == "none" or peak <= 1.0:
        return 1.0
    if policy == "rescale":
        warnings.warn(f"output peaked at {peak:.3f}; both stems scaled by {1 / peak:.3f}",
                      ClippingWarning, stacklevel=2)
        return 1.0 / peak
    warnings.warn(f"output peaked at {peak:.3f}; samples clipped to full scale", ClippingWarning, stacklevel=2)
    return 1.0


def flac_can_store(sample_rate: int) -> bool:
    """FLAC headers hold rates up to 65535 Hz in Hz, and above that only in tens of Hz."""
    return 0 < sample_rate <= 65535 or (sample_rate % 10 == 0 and sample_rate <= 655350)


def stem_subtype(audio_format: str, bits: int | None) -> str:
    """The libsndfile subtype of stems in ``audio_format`` with ``bits`` (default: 32 for wav, 24 for flac).

    Compressed formats (mp3, ogg, opus, m4a) have no sample size: "" for them, and ``bits`` refused.
    """
    from vocalsep.audio.encode import COMPRESSED

    if audio_format in COMPRESSED:
        if bits is not None:
            raise ConfigError(f"--bits is for wav and flac; {audio_format} takes --bitrate")
        return ""
    if bits is None:
        bits = 32 if audio_format == "wav" else 24
    if bits not in SUBTYPE_FOR_BITS:
        raise ConfigError(f"bits must be 16, 24 or 32, not {bits}")
    subtype = SUBTYPE_FOR_BITS[bits]
    if audio_format not in SUBTYPES:
        raise ConfigError(f"unknown stem format {audio_format!r} (use wav, flac, {', '.join(COMPRESSED)})")
    if subtype not in SUBTYPES[audio_format]:
        raise ConfigError(f"{audio_format} cannot store {bits}-bit {'float' if bits == 32 else 'integer'} samples")
    return subtype


class progress_bar:
    """Context manager yielding a sample-count callback bound to a tqdm bar (or None)."""

    def __init__(self, total: int | None, label: str, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="sample", unit_scale=True, file=sys.stderr, leave=False)

    def __enter__(self):  # noqa: ANN204
        return None if self.bar is None else self.bar.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
