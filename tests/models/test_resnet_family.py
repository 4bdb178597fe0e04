"""ResNet family (ResNet, ResNeXt, SE, DenseNet, MobileNet) against torchvision.

Twins: exact parameter counts at ImageNet size, torchvision state_dicts loading strictly
into our modules and giving the same logits (float64, eval mode, atol 1e-10).
"""

import pytest
import torch
import torchvision
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models._blocks import SqueezeExcite

FAMILY = (
    "resnet resnet18 resnet34 resnet50 resnext resnext50_32x4d se_resnet18 se_resnet50 "
    "densenet densenet121 mobilenet_v1 mobilenet_v2"
).split()
IMAGENET = dict(in_channels=3, num_classes=1000, image_size=(224, 224))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", 11_689_512),
        ("resnet34", 21_797_672),
        ("resnet50", 25_557_032),
        ("resnext50_32x4d", 25_028_904),
        ("densenet121", 7_978_856),
        ("mobilenet_v2", 3_504_872),
        ("mobilenet_v1", 4_231_976),
    ],  # v1: Keras' trainable count (paper: 4.2M); others torchvision
)
def test_parameter_count_matches_reference(name: str, expected: int) -> None:
    model = build_model(name, **IMAGENET, stem="imagenet", width=1.0)
    assert n_params(model) == expected


@pytest.mark.parametrize(
    "name, twin",
    [
        (name, getattr(torchvision.models, name))
        for name in ["resnet18", "resnext50_32x4d", "densenet121", "mobilenet_v2"]
    ],
)
def test_torchvision_weights_load_strictly_and_give_same_logits(name: str, twin) -> None:
    torch.manual_seed(0)
    theirs = twin().double().eval()
    ours = build_model(name, **IMAGENET).double().eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)  # non-square, small: fast
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-10, rtol=0)


def test_width_multiplier_matches_torchvision_mobilenet_v2_half() -> None:
    theirs = torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=10)
    ours = build_model(
        "mobilenet_v2", in_channels=3, num_classes=10, image_size=(32, 32), width=0.5
    )
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert build_model("resnet18", **IMAGENET, width=0.5).fc.in_features == 256


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_imagenet_output_shape(name: str) -> None:
    with torch.no_grad():
        assert build_model(name, **IMAGENET).eval()(torch.randn(2, 3, 224, 224)).shape == (2, 1000)


@pytest.mark.parametrize("name", FAMILY)
@pytest.mark.parametrize("stem", ["small", "imagenet"])
def test_small_inputs_work_with_either_stem(name: str, stem: str) -> None:
    model = build_model(
        name, in_channels=1, num_classes=10, image_size=(28, 32), stem=stem, width=0.25
    )
    out = model(torch.randn(2, 1, 28, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name, body",
    [
        ("resnet18", "layer4"),
        ("densenet", "features"),
        ("mobilenet_v2", "features"),
        ("mobilenet_v1", "features"),
    ],
)
def test_small_stem_downsamples_8x_imagenet_stem_32x(name: str, body: str) -> None:
    sizes: list[int] = []
    for stem in ["small", "imagenet"]:
        model = build_model(
            name, in_channels=1, num_classes=10, image_size=(28, 28), stem=stem, width=0.25
        )
        getattr(model, body).register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
        model(torch.randn(2, 1, 28, 28))
    assert sizes == [4, 1]  # 28 / 8 rounded up; 28 / 32 rounded up


def test_squeeze_excite_matches_hand_computation() -> None:
    torch.manual_seed(0)
    se = SqueezeExcite(32, reduction=4).double()
    x = torch.randn(2, 32, 5, 7, dtype=torch.float64)
    squeezed = x.sum(dim=(2, 3)) / 35
    hidden = torch.clamp(squeezed @ se.fc1.weight.T + se.fc1.bias, min=0)
    gate = 1 / (1 + torch.exp(-(hidden @ se.fc2.weight.T + se.fc2.bias)))
    torch.testing.assert_close(se(x), x * gate[:, :, None, None], atol=1e-12, rtol=0)
    assert se.fc1.out_features == 8


def test_se_gates_the_residual_branch_not_the_sum() -> None:
    model = build_model("se_resnet18", in_channels=3, num_classes=10, image_size=(16, 16)).eval()
    block = model.layer1[0]  # identity shortcut: 64 -> 64, stride 1
    nn.init.constant_(block.se.fc2.bias, -1e4)  # gate ~ 0: only the shortcut survives
    x = torch.randn(2, 64, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x), atol=1e-6, rtol=0)
    # every block has one SE: fc1 C -> C/16, fc2 back, with biases
    extra = sum(2 * (2 * c * (c // 16) + c // 16 + c) for c in (64, 128, 256, 512))
    assert n_params(build_model("se_resnet18", **IMAGENET)) == 11_689_512 + extra


def test_book_resnext_block_uses_grouped_conv_without_expansion() -> None:
    model = build_model("resnext", in_channels=1, num_classes=10, image_size=(32, 32))
    block = model.layer2[0]  # 64 -> 128 channels, stride 2, group width 16
    assert block.conv2.groups == 128 // 16 and block.conv3.out_channels == 128
    assert block.downsample is not None and model.fc.in_features == 512


def test_book_densenet_layout() -> None:
    model = build_model("densenet", in_channels=1, num_classes=10, image_size=(96, 96))
    # 64 + 4 * 32 = 192 -> transition halves to 96 -> +128 = 224 -> 112 -> 240 -> 120 -> 248
    assert model.features.transition1.conv.out_channels == 96
    assert model.classifier.in_features == 248
    assert not hasattr(model.features.denseblock1.denselayer1, "conv2")  # no 1x1 bottleneck


@pytest.mark.parametrize(
    "name, options",
    [
        ("resnet18", {"stem": "tiny"}),
        ("mobilenet_v2", {"width": 0.0}),
        ("resnet", {"layers": []}),
        ("resnet", {"block": "wide"}),
        ("densenet", {"compression": 1.5}),
    ],
)
def test_bad_options_raise_user_error(name: str, options: dict) -> None:
    with pytest.raises(UserError):
        build_model(name, in_channels=1, num_classes=10, image_size=(28, 28), **options)
