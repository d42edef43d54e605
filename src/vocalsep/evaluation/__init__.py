"""Scores: BSS Eval and baselines, the Spleeter peer, melody accuracy, validation during training."""
