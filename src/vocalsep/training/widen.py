"""Start a wider U-Net from a narrower one's weights, computing the same at the first step.

A wider network (a larger ``max_width``, say) trained from random weights would need the
whole training again. Instead every convolution and batch norm of the narrow network is
copied into the leading channels of the wide one; the new channels keep their random
incoming weights (so they compute something and learn), and every weight that *reads* a new
channel starts at zero, so the old channels, and the mask, are exactly the narrow network's
until training moves them (the idea of Net2Net's function-preserving widening).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from vocalsep.config import ModelConfig, UNetConfig
from vocalsep.errors import ConfigError
from vocalsep.separation.model import DecoderLevel, MaskEstimator, OutputLevel


def can_widen(narrow: UNetConfig, wide: UNetConfig) -> bool:
    """Whether ``wide`` is ``narrow`` with at least as many channels at every level."""
    same_otherwise = dataclasses.replace(narrow, width=wide.width, max_width=wide.max_width) == wide
    return same_otherwise and wide.width >= narrow.width and wide.max_width >= narrow.max_width


def widened_state(narrow_config: ModelConfig, narrow_state: dict[str, torch.Tensor],
                  wide: MaskEstimator) -> dict[str, torch.Tensor]:
    """The state dict of ``wide`` that computes what the narrow network computes.

    Parameters
    ----------
    narrow_config, narrow_state
        The narrow network (same STFT and architecture, fewer channels).
    wide : MaskEstimator
        The wide network, with its own random initial weights for the new channels.

    Raises
    ------
    ConfigError
        ``wide`` is not a widening of the narrow network.
    """
    if not can_widen(narrow_config.unet, wide.config.unet):
        raise ConfigError("the starting network is not a narrower version of this run's network")
    narrow = MaskEstimator(narrow_config)
    narrow.load_state_dict(narrow_state, strict=True)
    state = {name: tensor.detach().clone() for name, tensor in wide.state_dict().items()}
    modules = dict(narrow.named_modules())
    parents = dict(wide.named_modules())
    for name, module in wide.named_modules():
        old = modules[name]
        if isinstance(module, nn.Conv2d):
            parent = parents[name.rpartition(".")[0]]
            _widen_conv(state, name, old, module, _skip_channels(parent, module, wide.config.unet),
                        _skip_channels(modules[name.rpartition(".")[0]], old, narrow_config.unet))
        elif isinstance(module, nn.BatchNorm2d):
            for key, tensor in old.state_dict().items():  # new channels keep weight 1, bias 0, mean 0, var 1
                target = state[f"{name}.{key}"]
                if tensor.ndim:
                    target[: tensor.shape[0]] = tensor
                else:
                    target.copy_(tensor)  # num_batches_tracked
    for key in ("input_mean", "input_scale"):
        state[key] = narrow_state[key].clone()
    return state


def _skip_channels(parent: nn.Module, conv: nn.Conv2d, unet: UNetConfig) -> int:
    """Input channels that come from a skip connection, at the end of ``conv``'s input (0: none)."""
    if isinstance(parent, DecoderLevel):
        return conv.out_channels  # the skip has the level's own width
    if isinstance(parent, OutputLevel) and conv is parent.conv:
        return unet.channels  # the audio input itself
    return 0


def _widen_conv(state: dict[str, torch.Tensor], name: str, old: nn.Conv2d, new: nn.Conv2d,
                new_skip: int, old_skip: int) -> None:
    """Copy ``old`` into the leading outputs of ``new`` and zero the weights that read new inputs."""
    old_upper = old.in_channels - old_skip
    new_upper = new.in_channels - new_skip
    # old inputs in the new layout: the up-sampled part first, then the skip's channels
    kept = list(range(old_upper)) + [new_upper + channel for channel in range(old_skip)]
    weight = state[f"{name}.weight"]
    reads_new = torch.ones(new.in_channels, dtype=torch.bool)
    reads_new[kept] = False
    weight[:, reads_new] = 0.0
    weight[: old.out_channels, kept] = old.weight.detach()
    if old.bias is not None:
        state[f"{name}.bias"][: old.out_channels] = old.bias.detach()
