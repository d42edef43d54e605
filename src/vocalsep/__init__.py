"""vocalsep: pull the singing voice out of a song with a U-Net on spectrograms."""

__version__ = "0.1.0"
