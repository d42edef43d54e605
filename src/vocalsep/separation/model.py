"""The U-Nets that map a mixture magnitude spectrogram to the voice's.

Both architectures use the design document's building blocks: 3x3 "same"
convolutions with ReLU, 4x4 stride-2 down-sampling convolutions, batch
normalisation, x2 up-sampling and skip concatenation. The network only sees
magnitudes of shape (batch, 1, bins, frames); bins and frames must be
divisible by ``UNetConfig.downsampling``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocalsep.config import ModelConfig, UNetConfig


def conv3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 convolution with "same" padding (conv1, conv3, conv4, conv5 of the document)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


def conv_down(in_channels: int, out_channels: int) -> nn.Conv2d:
    """4x4 stride-2 convolution with Keras "same" padding: halves both sizes (conv2)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Keras ``UpSampling2D()``: nearest-neighbour repetition by 2 along both axes."""
    return torch.repeat_interleave(torch.repeat_interleave(x, 2, dim=-2), 2, dim=-1)


def _fold_taps(weight: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3 taps along ``dim`` -> the 2-tap kernels of the even and the odd output phase.

    Up-sampled by repetition, even output 2i reads rows i-1, i, i (taps w0 | w1 + w2 on
    rows i-1, i) and odd output 2i+1 reads rows i, i, i+1 (w0 + w1 | w2 on rows i, i+1).
    Plain slices and sums, so the ONNX exporter knows every shape.
    """
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([w0, w1 + w2], dim), torch.stack([w0 + w1, w2], dim)


def upsampled_conv3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``conv2d(upsample(x), weight, padding=1)`` computed at the low resolution (no bias).

    Nearest x2 up-sampling followed by a 3x3 "same" convolution equals, for each of the
    four output phases (a, b), a 2x2 convolution of ``x`` whose taps are sums of the
    3x3 taps (``_FOLD``); the phases are interleaved by a pixel shuffle. Exact up to
    float rounding, with 16 instead of 36 multiplies per weight and input pixel.

    Parameters
    ----------
    x : Tensor, shape (batch, in_channels, height, width)
    weight : Tensor, shape (out_channels, in_channels, 3, 3)

    Returns
    -------
    Tensor, shape (batch, out_channels, 2 * height, 2 * width)
    """
    out_channels = weight.shape[0]
    height, width = x.shape[-2:]
    # output channels in phase order (0, 0), (0, 1), (1, 0), (1, 1), out_channels each
    kernels = torch.cat([k for rows in _fold_taps(weight, 2) for k in _fold_taps(rows, 3)])
    phases = F.conv2d(x, kernels, padding=1)  # (height + 1, width + 1): 2x2 windows over x padded by 1
    # phase (a, b) of output (2i + a, 2j + b) is the window at padded row i + a, column j + b
    pieces = [
        phases[:, (2 * a + b) * out_channels : (2 * a + b + 1) * out_channels, a : a + height, b : b + width]
        for a in (0, 1)
        for b in (0, 1)
    ]
    return F.pixel_shuffle(torch.stack(pieces, dim=2).flatten(1, 2), 2)


class SeedUNet(nn.Module):
    """The design document's network, layer by layer as ``DESIGN.md`` resolves it.

    Every convolution is followed by ReLU (Keras ``activation='relu'``); the last one
    (conv5) returns raw values so the head decides between ReLU and a sigmoid mask.
    With ``width=64`` the channels are exactly the document's 64/64/128/32/1.
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        w = width
        self.enc1_conv1 = conv3(1, w)  # -> skip A
        self.down1_conv2 = conv_down(w, w)
        self.down1_bn = nn.BatchNorm2d(w)
        self.enc2_conv1 = conv3(w, w)  # -> skip B
        self.down2_conv2 = conv_down(w, w)
        self.down2_bn = nn.BatchNorm2d(w)
        self.dec2_conv3a = conv3(2 * w, 2 * w)
        self.dec2_conv3b = conv3(2 * w, 2 * w)
        self.dec2_bn3 = nn.BatchNorm2d(2 * w)
        self.dec2_conv1a = conv3(2 * w, w)
        self.dec2_conv1b = conv3(w, w)
        self.dec2_bn1 = nn.BatchNorm2d(w)
        self.dec1_conv1a = conv3(2 * w, w)
        self.dec1_conv1b = conv3(w, w)
        self.dec1_conv4 = conv3(w, w // 2)
        self.dec1_conv5 = conv3(w // 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        a = relu(self.enc1_conv1(x))
        y = self.down1_bn(relu(self.down1_conv2(a)))
        b = relu(self.enc2_conv1(y))
        y = self.down2_bn(relu(self.down2_conv2(b)))
        y = torch.cat([upsample(y), b], dim=1)
        y = self.dec2_bn3(relu(self.dec2_conv3b(relu(self.dec2_conv3a(y)))))
        y = self.dec2_bn1(relu(self.dec2_conv1b(relu(self.dec2_conv1a(y)))))
        y = torch.cat([upsample(y), a], dim=1)
        y = relu(self.dec1_conv1b(relu(self.dec1_conv1a(y))))
        return self.dec1_conv5(relu(self.dec1_conv4(y)))


def upsampled_conv3_transposed(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``upsampled_conv3`` as one stride-2 transposed convolution with a 4x4 kernel of folded taps.

    Along each axis, output 2i reads input i - 1 and i with taps w0 | w1 + w2 and output
    2i + 1 reads i and i + 1 with w0 + w1 | w2 (``_fold_taps``): a transposed convolution
    (stride 2, padding 1) places input i at outputs 2i - 1 .. 2i + 2 with the kernel
    [w2, w1 + w2, w0 + w1, w0]. Equal within float rounding; under autograd its backward is
    two fused kernels where the phases' slices and pixel shuffle cost a zero fill and an add
    per phase (2-3x slower to train on a CPU). The phases stay the inference path: that is
    what the ONNX export and its measured speed (docs/SPEED.md) are of.
    """

    def fold(w: torch.Tensor, dim: int) -> torch.Tensor:
        w0, w1, w2 = w.unbind(dim)
        return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)

    kernel = fold(fold(weight, 2), 3).transpose(0, 1)  # (in_channels, out_channels, 4, 4)
    return F.conv_transpose2d(x, kernel, stride=2, padding=1)


def conv3_of_upsampled_concat(conv: nn.Conv2d, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """``conv(cat([upsample(x), skip]))`` with the up-sampled part computed at low resolution.

    In training mode (``conv.training``) the up-sampled part is ``upsampled_conv3_transposed``.
    """
    channels = x.shape[1]
    y = F.conv2d(skip, conv.weight[:, channels:], conv.bias, padding=1)
    upsampled = upsampled_conv3_transposed if conv.training else upsampled_conv3
    return y + upsampled(x, conv.weight[:, :channels])


class EncoderLevel(nn.Module):
    """conv 3x3 (kept as the skip) then a stride-2 conv and batch norm."""

    def __init__(self, in_channels: int, channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = conv3(in_channels, channels)
        self.down = conv_down(channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = torch.relu(self.conv(x))
        return self.bn(torch.relu(self.down(skip))), skip


class DecoderLevel(nn.Module):
    """Up-sample, concatenate the skip, conv 3x3 and batch norm."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = conv3(in_channels + skip_channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.bn(torch.relu(conv3_of_upsampled_concat(self.conv, x, skip)))


class StridedStem(nn.Module):
    """Stride-2 conv and batch norm straight from the input; the input itself is the skip."""

    def __init__(self, out_channels: int, in_channels: int = 1) -> None:
        super().__init__()
        self.down = conv_down(in_channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.bn(torch.relu(self.down(x))), x


class OutputLevel(nn.Module):
    """Up-sample, concatenate the input and a 3x3 conv to one channel of logits.

    The strided stem's last layer, computed like ``DecoderLevel`` (up-sampled half at low
    resolution). With ``hidden`` channels, that conv has ``hidden`` outputs, then ReLU and a
    3x3 conv to the logits: the only full-resolution layers of the network.
    """

    def __init__(self, in_channels: int, hidden: int = 0, audio_channels: int = 1) -> None:
        super().__init__()
        self.conv = conv3(in_channels + audio_channels, hidden or audio_channels)
        self.hidden = conv3(hidden, audio_channels) if hidden else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        y = conv3_of_upsampled_concat(self.conv, x, skip)
        return y if self.hidden is None else self.hidden(torch.relu(y))


class DeepUNet(nn.Module):
    """The seed's blocks with ``depth`` levels: narrow at full resolution, wide below.

    ``stem="full"``: level ``i`` works at 1/2**i of the input size with
    ``min(width * 2**i, max_width)`` channels, so most of the compute happens where the
    receptive field is large. ``stem="strided"``: the same one level lower; the input is
    down-sampled at once (``StridedStem``) and only ``OutputLevel`` (one output channel)
    works at full resolution.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        widths = [min(config.width * 2**i, config.max_width) for i in range(config.depth + 1)]
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        if config.stem == "strided":
            widths = widths[: config.depth]  # channels at 1/2, 1/4, ... 1/2**depth
            self.encoders.append(StridedStem(widths[0], config.channels))
            self.encoders.extend(EncoderLevel(widths[i], widths[i], widths[i + 1]) for i in range(config.depth - 1))
            self.bottleneck = conv3(widths[-1], widths[-1])
            self.decoders.extend(DecoderLevel(widths[i + 1], widths[i], widths[i]) for i in reversed(range(config.depth - 1)))
            self.decoders.append(OutputLevel(widths[0], config.output_channels, config.channels))
            self.output: nn.Module = nn.Identity()
        else:
            self.encoders.extend(
                EncoderLevel(1 if i == 0 else widths[i], widths[i], widths[i + 1]) for i in range(config.depth)
            )
            self.bottleneck = conv3(widths[-1], widths[-1])
            self.decoders.extend(DecoderLevel(widths[i + 1], widths[i], widths[i]) for i in reversed(range(config.depth)))
            self.output = conv3(widths[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x, skip = encoder(x)
            skips.append(skip)
        x = torch.relu(self.bottleneck(x))
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(x, skip)
        return self.output(x)


class MaskEstimator(nn.Module):
    """Mixture magnitude -> voice mask in [0, 1] (``mask`` head) or ratio (``direct`` head).

    Input scaling: ``log1p`` compression, then per-bin standardisation by statistics of
    the training data, stored as buffers so they travel inside the checkpoint.

    Parameters
    ----------
    config : ModelConfig
        Transform and network settings.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        bins = config.stft.input_bins
        self.register_buffer("input_mean", torch.zeros(bins))
        self.register_buffer("input_scale", torch.ones(bins))
        unet = config.unet
        self.net: nn.Module = (
            SeedUNet(unet.width) if unet.architecture == "seed" else DeepUNet(unet)
        )

    def set_input_statistics(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Store the per-bin mean and standard deviation of ``log1p`` magnitudes."""
        self.input_mean.copy_(mean)
        self.input_scale.copy_(scale.clamp_min(1e-3))

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Estimate the voice mask.

        Parameters
        ----------
        magnitude : Tensor, shape (batch, input_bins, frames)
            Mixture magnitudes of the bins the network sees; for a stereo network
            (``unet.channels = 2``) an even batch whose rows 2i and 2i + 1 are the left and
            right channel of one excerpt (``pair_channels`` arranges any channel count so).

        Returns
        -------
        Tensor, shape (batch, input_bins, frames)
            ``mask`` head: soft mask in [0, 1]. ``direct`` head: voice magnitude
            (ReLU) divided by the mixture magnitude, so both heads multiply the mixture.
        """
        features = (torch.log1p(magnitude) - self.input_mean[:, None]) / self.input_scale[:, None]
        channels = self.config.unet.channels
        # a stereo network sees consecutive rows as pairs of channels: (2n, bins, frames) -> (n, 2, bins, frames)
        out = self.net(features.reshape(-1, channels, *features.shape[1:])).reshape(features.shape)
        if out.dtype != features.dtype:  # under autocast (training in bfloat16): the mask in float32
            out = out.to(features.dtype)
        if self.config.unet.head == "mask":
            sharpness = self.config.unet.mask_sharpness
            return torch.sigmoid(out * sharpness if sharpness != 1 else out)
        return torch.relu(out) / (magnitude + 1e-8)


def pair_channels(network, channels: int):  # noqa: ANN001, ANN201 - a function of tensors in and out
    """``network`` (of a stereo estimator) applied to a batch of excerpts of ``channels`` rows each.

    Channels are paired in order, (0, 1), (2, 3), ...; an odd last channel is paired with
    itself (a mono song is heard as a centred stereo one) and only its own mask kept.
    """
    if channels % 2 == 0:
        return network

    def run(magnitude: torch.Tensor) -> torch.Tensor:
        excerpts = magnitude.reshape(-1, channels, *magnitude.shape[1:])
        padded = torch.cat([excerpts, excerpts[:, -1:]], dim=1)  # the last channel twice
        masks = network(padded.reshape(-1, *magnitude.shape[1:]))
        return masks.reshape(excerpts.shape[0], channels + 1, *magnitude.shape[1:])[:, :channels].reshape(magnitude.shape)

    return run
