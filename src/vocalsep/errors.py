"""Error types: every failure a user can cause is a ``VocalsepError`` printed as one line."""


class VocalsepError(Exception):
    """Base class for errors that the command line prints as one line and exits non-zero."""


class AudioReadError(VocalsepError):
    """An input file cannot be decoded as audio, or holds no samples."""


class OutputError(VocalsepError):
    """An output file cannot be written (missing permission, full disk, existing file)."""


class AudioWriteError(OutputError):
    """An audio output cannot be written: the ``OutputError`` of stems and ``save_audio``."""


class SampleRangeError(AudioWriteError):
    """A stem exceeds the range of 32-bit float samples (input near float32's maximum)."""


class ModelLoadError(VocalsepError):
    """A model file is missing, corrupted, or not a vocalsep checkpoint."""


class ConfigError(VocalsepError):
    """A configuration file or option holds an invalid value."""


class DatasetError(VocalsepError):
    """A dataset folder holds no usable tracks, or a track is missing a stem."""
