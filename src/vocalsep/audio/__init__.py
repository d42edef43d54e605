"""Audio in and out: decoding and writing files of any length, resampling, the STFT pair."""

from vocalsep.audio.io import AudioReader, AudioWriter, fit_length, load_audio, resample, save_audio

__all__ = ["AudioReader", "AudioWriter", "fit_length", "load_audio", "resample", "save_audio"]
