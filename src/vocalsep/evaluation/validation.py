"""Validation during training: median SDR per source dataset, and the score that selects a model."""

from __future__ import annotations

import math

import numpy as np

from vocalsep.datasets import StemTrack
from vocalsep.evaluation.metrics import global_sdr, is_silent
from vocalsep.separation.model import MaskEstimator
from vocalsep.separation.separator import STEM_NAMES, Separator


def validate(estimator: MaskEstimator, tracks: list[StemTrack]) -> dict[str, float]:
    """Median SDR of voice and accompaniment over validation tracks, per source dataset.

    Tracks whose voice is silent are left out of the voice median (their SDR is meaningless).
    """
    separator = Separator(estimator, engine="torch")  # weights change every validation: no ONNX export each time
    groups: dict[str, dict[str, list[float]]] = {}
    for track in tracks:
        group = track.source
        stems = separator.separate(track.mixture, track.sample_rate)
        scores = groups.setdefault(group, {name: [] for name in STEM_NAMES})
        for name, reference in track.stems.items():
            if name == STEM_NAMES[0] and is_silent(reference):
                continue  # a silent voice has no meaningful SDR
            scores[name].append(global_sdr(reference, stems[name]))
    return {
        f"{group}_{stem}_sdr": float(np.median(values))
        for group, stems_scores in groups.items()
        for stem, values in stems_scores.items()
        if values
    }


def score(metrics: dict[str, float]) -> float:
    """Model selection: mean of the validation medians.

    When unseen MIR-1K singers are validated on (``mir1k_unseen_*``), the held-out songs of the
    training singers (``mir1k_*``) are logged but do not select: they measure voices already heard.
    """
    unseen = any(k.startswith("mir1k_unseen_") for k in metrics)
    values = [v for k, v in metrics.items() if k.endswith("_sdr")
              and not (unseen and k.startswith("mir1k_") and not k.startswith("mir1k_unseen_"))]
    return float(np.mean(values)) if values else -math.inf


