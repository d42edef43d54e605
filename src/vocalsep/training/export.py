"""Export a training checkpoint as a bundled model file named by its hash."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from vocalsep.separation.checkpoint import MODELS_DIR, HASHED_NAME, model_payload, read_checkpoint, save_checkpoint, sha256_of
from vocalsep.config import ModelConfig
from vocalsep.datasets import StemTrack
from vocalsep.errors import ModelLoadError
from vocalsep.separation.model import MaskEstimator


def export_model(
    checkpoint: str | Path,
    name: str,
    folder: Path | None = None,
    *,
    mask_sharpness: float | None = None,
    validation_tracks: list[StemTrack] | None = None,
) -> Path:
    """Write ``folder/<name>-<sha8>.pt`` holding only the model (no optimiser state).

    An earlier bundled file of the same name is replaced. ``mask_sharpness``, when
    given, replaces the network's mask calibration (see ``UNetConfig``).
    ``validation_tracks``, when given, are scored with ``train.validate`` (median SDR per
    source) and the scores replace the training summary's ``validation``: a run trained
    without validation data (on a remote GPU, say) still ships its scores.
    """
    folder = folder or MODELS_DIR
    payload = read_checkpoint(checkpoint)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        if mask_sharpness is not None:
            config = dataclasses.replace(config, unet=dataclasses.replace(config.unet, mask_sharpness=mask_sharpness))
        estimator = MaskEstimator(config)
        estimator.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError) as error:
        raise ModelLoadError(f"{checkpoint}: checkpoint does not fit its model ({str(error)[:200]})") from None
    summary = payload.get("training_summary", {})
    if validation_tracks:
        from vocalsep.evaluation.validation import validate

        scores = validate(estimator.eval(), validation_tracks)
        summary = {**summary, "validation": {**scores, "scored_at_export": True},
                   "valid_tracks": [t.name for t in validation_tracks]}
    temporary = save_checkpoint(folder / f".{name}.export", model_payload(estimator, config, summary))
    target = folder / f"{name}-{sha256_of(temporary)[:8]}.pt"
    for old in folder.glob(f"{name}-*.pt"):
        match = HASHED_NAME.match(old.name)
        if match and match["name"] == name and old != target:
            old.unlink()
    shutil.move(temporary, target)
    return target
