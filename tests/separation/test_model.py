"""The seed network's layer plan (DESIGN.md), the deep U-Net, and the mask estimator's heads."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from vocalsep.config import ModelConfig, STFTConfig, UNetConfig
from vocalsep.separation.model import (
    DecoderLevel, DeepUNet, MaskEstimator, SeedUNet, upsample, upsampled_conv3, upsampled_conv3_transposed,
)

F, T = 64, 32


def _seed_shapes(width: int) -> dict[str, tuple[int, ...]]:
    """Output shape of each named stage for input (1, 1, F, T), as DESIGN.md lists it."""
    w = width
    return {
        "enc1_conv1": (1, w, F, T),  # a: 64 @ F, T (skip A)
        "down1_conv2": (1, w, F // 2, T // 2),
        "down1_bn": (1, w, F // 2, T // 2),
        "enc2_conv1": (1, w, F // 2, T // 2),  # b: 64 @ F/2 (skip B)
        "down2_conv2": (1, w, F // 4, T // 4),
        "down2_bn": (1, w, F // 4, T // 4),
        "dec2_conv3a": (1, 2 * w, F // 2, T // 2),
        "dec2_conv3b": (1, 2 * w, F // 2, T // 2),
        "dec2_bn3": (1, 2 * w, F // 2, T // 2),
        "dec2_conv1a": (1, w, F // 2, T // 2),
        "dec2_conv1b": (1, w, F // 2, T // 2),
        "dec2_bn1": (1, w, F // 2, T // 2),
        "dec1_conv1a": (1, w, F, T),
        "dec1_conv1b": (1, w, F, T),
        "dec1_conv4": (1, w // 2, F, T),
        "dec1_conv5": (1, 1, F, T),
    }


def _record(net: nn.Module) -> tuple[dict, dict]:
    inputs, outputs = {}, {}
    for name, module in net.named_children():
        module.register_forward_pre_hook(lambda m, args, name=name: inputs.__setitem__(name, args[0].shape))
        module.register_forward_hook(lambda m, args, out, name=name: outputs.__setitem__(name, out.shape))
    return inputs, outputs


def test_seed_layer_plan_width_64():
    net = SeedUNet(64).eval()
    inputs, outputs = _record(net)
    with torch.no_grad():
        y = net(torch.randn(1, 1, F, T, generator=torch.Generator().manual_seed(0)))
    expected = _seed_shapes(64)
    assert list(outputs) == list(expected)  # every stage runs, in the documented order
    for name, shape in expected.items():
        assert tuple(outputs[name]) == shape, name
    # The two concatenations: up(y) with b, then up(y) with a.
    assert tuple(inputs["dec2_conv3a"]) == (1, 128, F // 2, T // 2)
    assert tuple(inputs["dec1_conv1a"]) == (1, 128, F, T)
    assert y.shape == (1, 1, F, T)


def test_seed_layers_match_the_table():
    """Filters, kernel and stride of conv1..conv5 as the design document's table gives them."""
    net = SeedUNet(64)
    table = {"conv1": (64, 3, 1), "conv2": (64, 4, 2), "conv3": (128, 3, 1), "conv4": (32, 3, 1), "conv5": (1, 3, 1)}
    convs = {name: m for name, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 12
    counts = {kind: sum(kind in name for name in convs) for kind in table}
    assert counts == {"conv1": 6, "conv2": 2, "conv3": 2, "conv4": 1, "conv5": 1}
    for name, conv in convs.items():
        (kind,) = [k for k in table if k in name]
        filters, kernel, stride = table[kind]
        assert conv.out_channels == filters, name
        assert conv.kernel_size == (kernel, kernel), name
        assert conv.stride == (stride, stride), name
    batch_norms = [name for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms == ["down1_bn", "down2_bn", "dec2_bn3", "dec2_bn1"]


def test_seed_parameter_count():
    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    def bn(c):
        return 2 * c

    by_hand = (
        conv(1, 64, 3)  # enc1 conv1
        + conv(64, 64, 4) + bn(64)  # down1 conv2 + BN
        + conv(64, 64, 3)  # enc2 conv1
        + conv(64, 64, 4) + bn(64)  # down2 conv2 + BN
        + 2 * conv(128, 128, 3) + bn(128)  # conv3 pair + BN
        + conv(128, 64, 3) + conv(64, 64, 3) + bn(64)  # conv1 pair + BN
        + conv(128, 64, 3) + conv(64, 64, 3)  # conv1 pair at full resolution
        + conv(64, 32, 3)  # conv4
        + conv(32, 1, 3)  # conv5
    )
    count = sum(p.numel() for p in SeedUNet(64).parameters())
    assert count == by_hand == 704_769
    assert round(count / 1e6, 2) == 0.70


@pytest.mark.parametrize("width", [8, 6])
def test_seed_other_widths(width):
    net = SeedUNet(width).eval()
    _, outputs = _record(net)
    with torch.no_grad():
        net(torch.randn(1, 1, F, T))
    for name, shape in _seed_shapes(width).items():
        assert tuple(outputs[name]) == shape, name


def test_seed_needs_sizes_divisible_by_four():
    with pytest.raises(RuntimeError):
        SeedUNet(4)(torch.randn(1, 1, 62, 32))


def test_upsample_is_nearest_neighbour():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = torch.tensor([[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4.0]]]])
    assert torch.equal(upsample(x), expected)
    torch.testing.assert_close(upsample(x), nn.Upsample(scale_factor=2, mode="nearest")(x))



@pytest.mark.parametrize(("in_channels", "out_channels", "height", "width"), [(1, 1, 1, 1), (3, 5, 2, 7), (16, 8, 9, 4)])
def test_upsampled_conv3_is_conv_of_the_upsampled_input(in_channels, out_channels, height, width):
    generator = torch.Generator().manual_seed(in_channels)
    x = torch.randn(2, in_channels, height, width, generator=generator)
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) / (9 * in_channels) ** 0.5
    expected = nn.functional.conv2d(upsample(x), weight, padding=1)
    torch.testing.assert_close(upsampled_conv3(x, weight), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(upsampled_conv3_transposed(x, weight), expected, atol=1e-5, rtol=0)


def test_a_network_computes_the_same_in_training_and_inference_form() -> None:
    """Training mode takes the transposed convolution, inference the phases: one function, and one gradient."""
    config = dataclasses.replace(UNetConfig(), width=4, depth=3, max_width=16, stem="strided", output_channels=4)
    network = DeepUNet(config)
    x = torch.randn(3, 1, 32, 16, generator=torch.Generator().manual_seed(0))
    network.train()
    trained = network(x)
    gradients = torch.autograd.grad(trained.square().sum(), list(network.parameters()))
    network.eval()
    for module in network.modules():  # batch norm as in training; only the up-sampling path differs
        if isinstance(module, nn.BatchNorm2d):
            module.train()
    torch.testing.assert_close(network(x), trained, atol=1e-5, rtol=1e-5)
    expected = torch.autograd.grad(network(x).square().sum(), list(network.parameters()))
    for got, want in zip(gradients, expected):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def _decoder_by_concatenation(decoder: DecoderLevel, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """The plain formulation: conv3x3(cat(upsample(x), skip)), ReLU, batch norm."""
    return decoder.bn(torch.relu(decoder.conv(torch.cat([upsample(x), skip], dim=1))))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(("channels", "skip_channels", "out_channels", "height", "width"),
                         [(16, 8, 8, 4, 6), (4, 4, 4, 1, 3), (32, 16, 16, 8, 8)])
def test_decoder_level_equals_the_concatenation(mode, channels, skip_channels, out_channels, height, width):
    torch.manual_seed(channels + height)
    decoder = DecoderLevel(channels, skip_channels, out_channels)
    nn.init.normal_(decoder.bn.running_mean)
    nn.init.uniform_(decoder.bn.running_var, 0.5, 2.0)
    decoder.train(mode == "train")
    x = torch.randn(3, channels, height, width, requires_grad=True)
    skip = torch.randn(3, skip_channels, 2 * height, 2 * width, requires_grad=True)
    upstream = torch.randn(3, out_channels, 2 * height, 2 * width)
    grads, outputs = [], []
    for forward in (decoder, lambda a, b: _decoder_by_concatenation(decoder, a, b)):
        state = {k: v.clone() for k, v in decoder.state_dict().items()}  # train mode updates running stats
        out = forward(x, skip)
        grads.append(torch.autograd.grad(out, [x, skip, *decoder.parameters()], upstream))
        outputs.append(out.detach())
        decoder.load_state_dict(state)
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)
    for new, plain in zip(*grads):
        torch.testing.assert_close(new, plain, atol=1e-4, rtol=1e-5)


def test_decoder_keeps_the_checkpoint_layout():
    decoder = DecoderLevel(16, 8, 8)
    assert {k: tuple(v.shape) for k, v in decoder.state_dict().items() if "bn" not in k} == {
        "conv.weight": (8, 24, 3, 3),
        "conv.bias": (8,),
    }


@pytest.mark.parametrize(("depth", "frames"), [(1, 6), (2, 8), (4, 16)])
def test_deep_unet_shapes(depth, frames):
    config = UNetConfig(width=4, depth=depth, max_width=16)
    net = DeepUNet(config).eval()
    bins = 2**depth * 2
    x = torch.randn(2, 1, bins, frames)
    with torch.no_grad():
        assert net(x).shape == (2, 1, bins, frames)
    assert len(net.encoders) == len(net.decoders) == depth
    widths = [min(4 * 2**i, 16) for i in range(depth + 1)]
    assert [e.down.out_channels for e in net.encoders] == widths[1:]
    assert net.bottleneck.out_channels == widths[-1]
    assert [d.conv.out_channels for d in net.decoders] == widths[:-1][::-1]


def test_deep_unet_level_sizes():
    net = DeepUNet(UNetConfig(width=4, depth=3, max_width=8)).eval()
    sizes = []
    for encoder in net.encoders:
        encoder.register_forward_hook(lambda m, args, out: sizes.append((out[0].shape, out[1].shape)))
    with torch.no_grad():
        net(torch.randn(1, 1, 32, 16))
    assert [tuple(down) for down, _ in sizes] == [(1, 8, 16, 8), (1, 8, 8, 4), (1, 8, 4, 2)]
    assert [tuple(skip) for _, skip in sizes] == [(1, 4, 32, 16), (1, 8, 16, 8), (1, 8, 8, 4)]


@pytest.mark.parametrize(("depth", "frames"), [(1, 6), (2, 8), (4, 16)])
def test_strided_stem_shapes(depth, frames):
    net = DeepUNet(UNetConfig(width=4, depth=depth, max_width=16, stem="strided")).eval()
    bins = 2**depth * 2
    with torch.no_grad():
        assert net(torch.randn(2, 1, bins, frames)).shape == (2, 1, bins, frames)
    assert len(net.encoders) == len(net.decoders) == depth
    widths = [min(4 * 2**i, 16) for i in range(depth)]  # at 1/2, 1/4, ...: none at full resolution
    assert [e.down.out_channels for e in net.encoders] == widths
    assert [d.conv.out_channels for d in net.decoders] == widths[:-1][::-1] + [1]
    assert net.decoders[-1].conv.in_channels == widths[0] + 1  # the input is the top skip


def test_strided_stem_has_one_full_resolution_convolution():
    net = DeepUNet(UNetConfig(width=4, depth=3, max_width=16, stem="strided")).eval()
    full_resolution = []

    def record(module, args, out):
        if out.shape[-2:] == (32, 16):
            full_resolution.append(module)

    for module in net.modules():
        if isinstance(module, (nn.Conv2d, DecoderLevel)) or type(module).__name__ == "OutputLevel":
            module.register_forward_hook(record)
    with torch.no_grad():
        net(torch.randn(1, 1, 32, 16))
    assert [type(m).__name__ for m in full_resolution] == ["OutputLevel"]


@pytest.mark.parametrize("hidden", [0, 3])
def test_strided_output_level_equals_concatenation(hidden):
    torch.manual_seed(3)
    net = DeepUNet(UNetConfig(width=4, depth=2, max_width=8, stem="strided", output_channels=hidden)).eval()
    output = net.decoders[-1]
    low, full = torch.randn(2, 4, 8, 6), torch.randn(2, 1, 16, 12)
    with torch.no_grad():
        plain = output.conv(torch.cat([upsample(low), full], dim=1))
        assert plain.shape[1] == (hidden or 1)
        if hidden:
            plain = output.hidden(torch.relu(plain))
        torch.testing.assert_close(output(low, full), plain, atol=1e-5, rtol=1e-5)
        assert net(torch.randn(1, 1, 16, 8)).shape == (1, 1, 16, 8)


def _estimator(architecture: str, head: str, width: int = 4) -> MaskEstimator:
    config = ModelConfig(
        stft=STFTConfig(sample_rate=8000, n_fft=256, hop_length=64, input_bins=64),
        unet=UNetConfig(architecture=architecture, head=head, width=width, depth=2),
    )
    return MaskEstimator(config)


@pytest.mark.parametrize("architecture", ["seed", "unet"])
def test_mask_head_in_unit_interval(architecture):
    torch.manual_seed(0)
    estimator = _estimator(architecture, "mask").eval()
    magnitude = 10 * torch.rand(3, 64, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mask = estimator(magnitude)
    assert mask.shape == magnitude.shape
    assert mask.min() >= 0 and mask.max() <= 1
    assert mask.std() > 0  # not a constant


@pytest.mark.parametrize("architecture", ["seed", "unet"])
def test_direct_head_is_relu_over_magnitude(architecture):
    torch.manual_seed(0)
    estimator = _estimator(architecture, "direct").eval()
    magnitude = 0.1 + torch.rand(2, 64, 8, generator=torch.Generator().manual_seed(2))
    features = torch.log1p(magnitude)[:, None]  # zero mean, unit scale by default
    last = [m for m in estimator.net.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        # Centre the raw output on zero so that the ReLU has something to clip.
        last.bias -= estimator.net(features).median()
        ratio = estimator(magnitude)
        raw = estimator.net(features)[:, 0]
    assert ratio.min() >= 0
    torch.testing.assert_close(ratio * magnitude, torch.relu(raw), atol=1e-5, rtol=1e-5)
    assert (raw < 0).any() and (raw > 0).any()  # the ReLU actually clips something here


def test_input_statistics_are_buffers_in_state_dict():
    estimator = _estimator("seed", "mask")
    mean = torch.linspace(0, 1, 64)
    scale = torch.linspace(0, 2, 64)
    estimator.set_input_statistics(mean, scale)
    state = estimator.state_dict()
    assert torch.equal(state["input_mean"], mean)
    assert state["input_scale"].min().item() == pytest.approx(1e-3)  # clamped away from zero
    torch.testing.assert_close(state["input_scale"][1:], scale[1:].clamp_min(1e-3))
    assert "input_mean" not in dict(estimator.named_parameters())


def test_input_statistics_standardise_features():
    estimator = _estimator("unet", "mask").eval()
    magnitude = torch.rand(1, 64, 8, generator=torch.Generator().manual_seed(5))
    mean = torch.rand(64, generator=torch.Generator().manual_seed(6))
    scale = 0.5 + torch.rand(64, generator=torch.Generator().manual_seed(7))
    seen = []
    estimator.net.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    estimator.set_input_statistics(mean, scale)
    with torch.no_grad():
        estimator(magnitude)
    expected = (torch.log1p(magnitude) - mean[:, None]) / scale[:, None]
    torch.testing.assert_close(seen[0][:, 0], expected)


def test_does_not_mutate_input():
    estimator = _estimator("seed", "direct").eval()
    magnitude = torch.rand(1, 64, 8)
    copy = magnitude.clone()
    with torch.no_grad():
        estimator(magnitude)
    assert torch.equal(magnitude, copy)


@pytest.mark.parametrize("architecture", ["seed", "unet"])
def test_gradients_flow(architecture):
    torch.manual_seed(0)
    estimator = _estimator(architecture, "mask").train()
    magnitude = torch.rand(2, 64, 8, generator=torch.Generator().manual_seed(3))
    target = torch.rand(2, 64, 8, generator=torch.Generator().manual_seed(4))
    loss = (estimator(magnitude) * magnitude - target).abs().mean()
    loss.backward()
    for name, parameter in estimator.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    estimator = _estimator("unet", "mask")
    magnitude = torch.rand(4, 64, 8, generator=torch.Generator().manual_seed(3))
    target = 0.3 * magnitude
    optimiser = torch.optim.Adam(estimator.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        optimiser.zero_grad()
        loss = (estimator(magnitude) * magnitude - target).abs().mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_mask_sharpness_scales_the_logits():
    torch.manual_seed(0)
    magnitude = torch.rand(2, 16, 16) * 3
    masks = {}
    for sharpness in (1.0, 0.5):
        config = ModelConfig(stft=STFTConfig(n_fft=64, hop_length=16, input_bins=16),
                             unet=UNetConfig(architecture="unet", width=4, depth=2, max_width=8,
                                             mask_sharpness=sharpness))
        torch.manual_seed(1)
        estimator = MaskEstimator(config).eval()
        masks[sharpness] = estimator(magnitude)
    logits = torch.logit(masks[1.0].double())
    torch.testing.assert_close(masks[0.5].double(), torch.sigmoid(0.5 * logits), atol=1e-5, rtol=0)
    # A softer mask sits closer to one half everywhere.
    assert torch.all((masks[0.5] - 0.5).abs() <= (masks[1.0] - 0.5).abs() + 1e-6)


@pytest.mark.parametrize("sharpness", [0.0, -1.0, 11.0])
def test_mask_sharpness_out_of_range_is_rejected(sharpness):
    with pytest.raises(ValueError, match="mask_sharpness"):
        UNetConfig(mask_sharpness=sharpness)
