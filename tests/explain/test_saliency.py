"""Saliency, SmoothGrad, integrated gradients and Grad-CAM against their captum twins, on zoo
models with random weights (float64, tight tolerances), plus hand-checked edge cases."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.explain import (
    find_layer,
    grad_cam,
    integrated_gradients,
    smoothgrad,
    vanilla_gradient,
)
from scratchdl.explain.saliency import IG_METHODS
from scratchdl.models import build_model


def zoo(name: str, seed: int = 0, **options) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(name, in_channels=1, num_classes=10, image_size=(28, 28), **options)
    return model.double().eval()


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    return zoo("lenet")


def images(n: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)).double()


@pytest.mark.parametrize("absolute", [True, False])
def test_vanilla_gradient_equals_captum_saliency(lenet, absolute: bool) -> None:
    x, y = images(), torch.tensor([3, 0, 9])
    ours = vanilla_gradient(lenet, x, y, abs=absolute)
    twin = Saliency(lenet).attribute(x.clone().requires_grad_(), target=y, abs=absolute)
    torch.testing.assert_close(ours, twin, rtol=0, atol=1e-14)
    assert ours.abs().sum() > 0


def test_vanilla_gradient_of_a_linear_model_is_its_weight_row() -> None:
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).double()
    x = torch.randn(2, 1, 2, 2, dtype=torch.float64)
    grad = vanilla_gradient(lin, x, 2, abs=False)
    torch.testing.assert_close(
        grad, lin[1].weight[2].detach().view(1, 1, 2, 2).expand(2, -1, -1, -1)
    )


def test_smoothgrad_equals_noise_tunnel_with_the_same_draws(lenet) -> None:
    x, y = images(2), torch.tensor([4, 7])
    torch.manual_seed(123)
    ours = smoothgrad(lenet, x, y, samples=6, stdev=0.2)
    torch.manual_seed(123)
    twin = NoiseTunnel(Saliency(lenet)).attribute(
        x.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=6, stdevs=0.2, target=y
    )
    torch.testing.assert_close(ours, twin, rtol=0, atol=1e-14)


def test_smoothgrad_with_zero_noise_is_the_vanilla_gradient(lenet) -> None:
    x = images(2)
    torch.testing.assert_close(
        smoothgrad(lenet, x, 5, samples=3, stdev=0.0), vanilla_gradient(lenet, x, 5)
    )


@pytest.mark.parametrize("method", IG_METHODS)
def test_integrated_gradients_equal_captum(lenet, method: str) -> None:
    x, y = images(2), torch.tensor([1, 8])
    base = torch.full_like(x, 0.25)
    ours = integrated_gradients(lenet, x, y, baseline=base, steps=16, method=method)
    twin = IntegratedGradients(lenet).attribute(
        x, baselines=base, target=y, n_steps=16, method=method
    )
    torch.testing.assert_close(ours, twin, rtol=1e-12, atol=1e-14)


def test_integrated_gradients_are_complete_and_batch_independent(lenet) -> None:
    x, y = images(3), torch.tensor([2, 2, 6])
    ig = integrated_gradients(lenet, x, y, steps=64)
    with torch.no_grad():
        gain = lenet(x)[torch.arange(3), y] - lenet(torch.zeros_like(x))[torch.arange(3), y]
    # completeness (Sundararajan et al. axiom): attributions sum to the score difference
    torch.testing.assert_close(ig.flatten(1).sum(1), gain, rtol=2e-3, atol=2e-4)
    chunked = integrated_gradients(lenet, x, y, steps=64, batch_size=7)
    torch.testing.assert_close(chunked, ig, rtol=1e-12, atol=1e-14)
    one = integrated_gradients(lenet, x[:1], 2, steps=64)  # batch of one
    torch.testing.assert_close(one, ig[:1], rtol=1e-12, atol=1e-14)


def captum_grad_cam(model: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor):
    raw = LayerGradCam(model, find_layer(model, layer)).attribute(x, target=y)
    return raw, F.interpolate(F.relu(raw), size=x.shape[-2:], mode="bilinear")


@pytest.mark.parametrize(
    ("name", "options", "layer"),
    [
        ("lenet", {}, "0"),
        ("lenet", {}, "3"),
        ("resnet", {"layers": [1, 1], "width": 0.125, "stem": "small"}, "layer2.0.conv2"),
        ("resnet", {"layers": [1, 1], "width": 0.125, "stem": "small"}, "layer1.0.conv1"),
        ("bn_lenet", {}, "4"),
    ],
)
def test_grad_cam_equals_captum_layer_grad_cam(name, options, layer) -> None:
    model = zoo(name, **options)
    x, y = images(2, seed=4), torch.tensor([0, 5])
    raw_twin, cam_twin = captum_grad_cam(model, layer, x, y)
    raw = grad_cam(model, x, y, layer, relu=False, upsample=False)
    torch.testing.assert_close(raw, raw_twin, rtol=1e-12, atol=1e-14)
    cam = grad_cam(model, x, y, layer)
    assert cam.shape == (2, 1, 28, 28) and cam.min() >= 0
    torch.testing.assert_close(cam, cam_twin, rtol=1e-12, atol=1e-14)


def test_grad_cam_unknown_layer_lists_the_conv_layers(lenet) -> None:
    with pytest.raises(UserError, match=r"layer 'conv9' does not exist.*conv layers: 0, 3"):
        grad_cam(lenet, images(1), 0, "conv9")


def test_bad_inputs_are_one_line_errors(lenet) -> None:
    with pytest.raises(UserError, match=r"expected a float image batch"):
        vanilla_gradient(lenet, torch.zeros(28, 28), 0)
    with pytest.raises(UserError, match=r"expected one class or 3"):
        vanilla_gradient(lenet, images(3), torch.tensor([1, 2]))
    with pytest.raises(UserError, match=r"method: expected one of"):
        integrated_gradients(lenet, images(1), 0, method="simpson")
