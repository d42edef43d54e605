"""The Python API in one import: ``from vocalsep.api import separate_file, Separator, load_audio, transcribe_file``."""

from vocalsep.audio.io import load_audio
from vocalsep.pipeline.melody import transcribe_file
from vocalsep.pipeline.separate import separate_file, separate_files
from vocalsep.separation.separator import Separator

__all__ = ["Separator", "load_audio", "separate_file", "separate_files", "transcribe_file"]
