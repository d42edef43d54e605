"""Separation: the U-Net mask network, its checkpoints, and the streamed engine that applies it to songs."""
