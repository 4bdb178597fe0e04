"""Every registered model: shapes, gradients, determinism, TOML-friendly options; summary.

Parametrized over `list_models()`, so a new model file is covered as soon as it registers.
Each model runs at a small image size and width (TEST_SETUP, else FALLBACK) to stay fast.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchdl.models import build_model, list_models, model_options
from scratchdl.models.summary import format_summary, layer_summary

# Per-model image size and options small enough for a sub-second forward and backward.
TEST_SETUP: dict[str, tuple[tuple[int, int], dict]] = {
    "alexnet": ((65, 72), {"width": 0.0625, "hidden": 32}),  # 65: smallest for stem_stride 4
    "vgg": ((32, 40), {"width": 0.0625, "hidden": 32, "pooled": 1}),
    "nin": ((67, 67), {"width": 0.0625}),
    "googlenet": ((32, 32), {"width": 0.125}),
    "bn_lenet": ((28, 28), {}),
    "lenet": ((28, 28), {}),
    "mlp": ((28, 28), {}),
    "softmax": ((28, 28), {}),
}
FALLBACK_SIZE = (32, 32)
FALLBACK_WIDTH = 0.125  # used for any other model that has a `width` option
NUM_CLASSES = 10


def setup_for(name: str) -> tuple[tuple[int, int], dict]:
    if name in TEST_SETUP:
        return TEST_SETUP[name]
    options = {"width": FALLBACK_WIDTH} if "width" in model_options(name) else {}
    return FALLBACK_SIZE, options


def build(name: str, in_channels: int = 1) -> tuple[nn.Module, torch.Tensor]:
    size, options = setup_for(name)
    model = build_model(
        name, in_channels=in_channels, num_classes=NUM_CLASSES, image_size=size, **options
    )
    return model, torch.randn(2, in_channels, *size)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model, x = build(name)
    model.train()
    out = model(x)
    assert out.shape == (2, NUM_CLASSES)
    assert torch.isfinite(out).all()
    assert sum(p.numel() for p in model.parameters()) > 0
    nn.functional.cross_entropy(out, torch.tensor([1, 7])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_rgb_input_and_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    model, x = build(name, in_channels=3)
    model.eval()
    with torch.no_grad():
        out = model(x[:1])  # batch of one must work in eval mode (batch norm uses running stats)
    assert out.shape == (1, NUM_CLASSES)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_deterministic_under_seed(name: str) -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(1234)
        model, x = build(name)
        model.train()  # dropout draws from the same seeded generator
        outputs.append(model(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def _toml_friendly(value: object) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(isinstance(v, (int, str)) for v in value)


@pytest.mark.parametrize("name", list_models())
def test_options_are_toml_friendly(name: str) -> None:
    for key, value in model_options(name).items():
        assert _toml_friendly(value), f"{name}.{key} = {value!r} cannot be set from TOML"


@pytest.mark.parametrize("name", list_models())
def test_summary_totals_match_parameters(name: str) -> None:
    model, x = build(name)
    rows = layer_summary(model, tuple(x.shape))
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[-1]["output_shape"] == (2, NUM_CLASSES)
    assert model.training, "layer_summary must restore the training mode"


def test_summary_counts_a_linear_layer_by_hand() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))
    rows = layer_summary(model, (4, 3, 2, 2))
    assert [r["name"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["type"] for r in rows] == ["Flatten", "Linear", "ReLU", "Linear"]
    assert [r["output_shape"] for r in rows] == [(4, 12), (4, 5), (4, 5), (4, 3)]
    assert [r["params"] for r in rows] == [0, 12 * 5 + 5, 0, 5 * 3 + 3]
    # batch 4 x in 12 x out 5 multiply-accumulates; bias adds are not counted
    assert [r["macs"] for r in rows] == [0, 4 * 12 * 5, 0, 4 * 5 * 3]
    text = format_summary(rows)
    assert "total: 83 parameters" in text and "300 MACs" in text


def test_summary_counts_conv_batchnorm_and_pooling_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(2, 4, kernel_size=3, padding=1, groups=2),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
    )
    rows = layer_summary(model, (1, 2, 6, 8))
    conv_out = 4 * 6 * 8
    assert [r["macs"] for r in rows] == [conv_out * 1 * 9, conv_out, 4 * 3 * 4 * 4, 4 * 3 * 4]


def test_summary_counts_a_shared_module_once_and_works_on_meta() -> None:
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    rows = layer_summary(model, (1, 3))
    assert len(rows) == 3 and sum(r["params"] for r in rows) == 12
    with torch.device("meta"):
        big = build_model("vgg", in_channels=3, num_classes=1000, image_size=(224, 224))
    rows = layer_summary(big, (1, 3, 224, 224))
    assert rows[-1]["output_shape"] == (1, 1000)
    # torchvision's table lists vgg11 at 7.61 GFLOPS (multiply-accumulates)
    assert 7.5e9 < sum(r["macs"] for r in rows) < 7.7e9


def test_summary_wrong_input_shape_raises() -> None:
    model, _ = build("lenet")
    with pytest.raises(RuntimeError):
        layer_summary(model, (1, 3, 28, 28))
