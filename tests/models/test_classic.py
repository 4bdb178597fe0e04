"""AlexNet, VGG, NiN, GoogLeNet and BN-LeNet against torchvision and the book.

Twins: torchvision's models at ImageNet size (3x224x224, 1000 classes). Parameter counts
must match exactly; where the module layout matches, torchvision's weights are copied in
and the outputs compared (float32, rtol=atol=1e-5). Architectures are built under the meta
device where only shapes matter, so these tests cost no compute. The book's layouts are
checked layer by layer against the output shapes printed in Dive into Deep Learning.
The from-scratch BatchNorm is compared with nn.BatchNorm1d/2d in float64 (tolerance 1e-10).
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models._summary import layer_summary
from scratchdl.nn.batch_norm import AutogradBatchNorm

IMAGENET = {"in_channels": 3, "num_classes": 1000, "image_size": (224, 224)}
VGG16 = {"arch": [2, 2, 3, 3, 3]}

# our name and options -> torchvision builder and its documented parameter count
TWINS = {
    "alexnet": ("alexnet", {"layout": "torchvision"}, torchvision.models.alexnet, 61_100_840),
    "vgg11": ("vgg", {}, torchvision.models.vgg11, 132_863_336),
    "vgg16": ("vgg", VGG16, torchvision.models.vgg16, 138_357_544),
    "vgg11_bn": ("vgg", {"batch_norm": True}, torchvision.models.vgg11_bn, 132_868_840),
    "googlenet": (
        "googlenet",
        {"layout": "torchvision", "dropout": 0.2},
        lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False),
        6_624_904,
    ),
}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.mark.parametrize("twin", list(TWINS))
def test_parameter_count_and_output_shape_match_torchvision(twin: str) -> None:
    name, options, tv_builder, expected = TWINS[twin]
    with torch.device("meta"):
        ours = build_model(name, **IMAGENET, **options)
        theirs = tv_builder()
        x = torch.zeros(2, 3, 224, 224)
        assert ours.eval()(x).shape == theirs.eval()(x).shape == (2, 1000)
    assert count(theirs) == expected
    assert count(ours) == expected
    # same tensors in the same order (buffers included); names too where the layout allows
    ours_shapes, theirs_shapes = state_shapes(ours), state_shapes(theirs)
    assert [s for _, s in ours_shapes] == [s for _, s in theirs_shapes]
    if name != "googlenet":
        assert ours_shapes == theirs_shapes


def copy_weights(ours: nn.Module, theirs: nn.Module) -> None:
    """Load `theirs` into `ours` by position (shapes checked by the test above)."""
    values = list(theirs.state_dict().values())
    ours.load_state_dict(dict(zip(ours.state_dict(), values, strict=True)), assign=True)


@pytest.mark.parametrize(
    ("twin", "size"),
    [
        ("alexnet", 224),
        ("googlenet", 224),
        ("googlenet", 57),  # odd sizes exercise torchvision's ceil_mode pools
        pytest.param("vgg11_bn", 32, marks=pytest.mark.slow),  # 133M-parameter init: ~5 s
    ],
)
def test_outputs_equal_torchvision_with_its_weights(twin: str, size: int) -> None:
    name, options, tv_builder, _ = TWINS[twin]
    torch.manual_seed(0)
    theirs = tv_builder().eval()
    for m in theirs.modules():  # non-trivial batch-norm statistics, so eval mode uses them
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    with torch.device("meta"):  # skip our own init: every tensor comes from torchvision
        ours = build_model(name, **IMAGENET, **options)
    copy_weights(ours, theirs)
    ours.eval()
    x = torch.randn(2, 3, size, size + 3)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def output_shapes(name: str, image_size: int, layers: list[str], **options) -> list[tuple]:
    with torch.device("meta"):
        model = build_model(
            name, in_channels=1, num_classes=10, image_size=(image_size, image_size), **options
        )
    rows = layer_summary(model, (1, 1, image_size, image_size))
    by_name = {r["name"]: r["output_shape"] for r in rows}
    return [by_name[layer] for layer in layers]


def test_book_alexnet_layer_shapes_and_size() -> None:
    layers = ["features.0", "features.2", "features.5", "features.12", "flatten", "classifier.6"]
    assert output_shapes("alexnet", 224, layers) == [
        (1, 96, 54, 54),
        (1, 96, 26, 26),
        (1, 256, 12, 12),
        (1, 256, 5, 5),
        (1, 6400),
        (1, 10),
    ]
    with torch.device("meta"):
        model = build_model("alexnet", in_channels=1, num_classes=10, image_size=(224, 224))
    assert count(model) == 46_764_746  # conv 3,723,968 + dense 43,040,778, counted by hand


def test_book_vgg_quarter_width_layer_shapes() -> None:
    pools = ["features.2", "features.5", "features.10", "features.15", "features.20"]
    assert output_shapes("vgg", 224, [*pools, "flatten"], width=0.25) == [
        (1, 16, 112, 112),
        (1, 32, 56, 56),
        (1, 64, 28, 28),
        (1, 128, 14, 14),
        (1, 128, 7, 7),
        (1, 6272),
    ]


def test_book_nin_layer_shapes() -> None:
    layers = ["0.4", "1", "3", "5", "7.4", "8", "9"]
    assert output_shapes("nin", 224, layers) == [
        (1, 96, 54, 54),
        (1, 96, 26, 26),
        (1, 256, 12, 12),
        (1, 384, 5, 5),
        (1, 10, 5, 5),
        (1, 10, 1, 1),
        (1, 10),
    ]


def test_book_googlenet_layer_shapes() -> None:
    # after b1 (stem pool), b2, b3, b4 (stage pools), b5 (flatten) and the dense layer
    layers = ["1", "4", "7", "13", "17", "19"]
    assert output_shapes("googlenet", 96, layers) == [
        (1, 64, 24, 24),
        (1, 192, 12, 12),
        (1, 480, 6, 6),
        (1, 832, 3, 3),
        (1, 1024),
        (1, 10),
    ]


def test_book_bn_lenet_layer_shapes() -> None:
    assert output_shapes("bn_lenet", 28, ["3", "7", "8", "15"]) == [
        (1, 6, 12, 12),
        (1, 16, 4, 4),
        (1, 256),
        (1, 10),
    ]


@pytest.mark.parametrize(
    ("name", "size", "options"),
    [
        ("alexnet", 64, {}),
        ("nin", 66, {}),
        ("vgg", 31, {}),
        ("vgg", 224, {"arch": [1, 2], "channels": [8]}),
        ("bn_lenet", 15, {}),
        ("alexnet", 224, {"layout": "paper"}),
        ("googlenet", 96, {"layout": "paper"}),
        ("bn_lenet", 28, {"impl": "layer"}),
        ("bn_lenet", 28, {"norm": "scratch"}),  # the old spelling is gone: impl
    ],
)
def test_bad_sizes_and_options_raise_user_errors(name: str, size: int, options: dict) -> None:
    with pytest.raises(UserError):
        build_model(name, in_channels=1, num_classes=10, image_size=(size, size), **options)


# ---- from-scratch batch norm vs nn.BatchNorm ---------------------------------------------


@pytest.mark.parametrize(
    ("shape", "momentum", "eps"),
    [((8, 5), 0.1, 1e-5), ((4, 3, 5, 6), 0.1, 1e-5), ((1, 3, 2, 3), 0.3, 1e-3), ((2, 4), 0.9, 0.1)],
)
def test_scratch_batchnorm_equals_torch_in_train_and_eval(shape, momentum, eps) -> None:
    torch.manual_seed(0)
    c = shape[1]
    # torch momentum > 0.5 is only reachable in the course's convention (1 - momentum)
    course = {"momentum": 1 - momentum, "course_momentum": True} if momentum > 0.5 else {}
    ours = AutogradBatchNorm(c, eps=eps, **({"momentum": momentum} | course)).double()
    theirs = (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(
        c, eps=eps, momentum=momentum
    ).double()
    with torch.no_grad():  # non-trivial affine parameters, shared by both
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
        ours.gamma.copy_(theirs.weight)
        ours.beta.copy_(theirs.bias)
    tol = {"rtol": 1e-10, "atol": 1e-10}
    for _ in range(3):  # several steps, so the running statistics accumulate
        x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        grad_out = torch.randn(shape, dtype=torch.float64)
        out, out2 = ours(x), theirs(x2)
        torch.testing.assert_close(out, out2, **tol)
        out.backward(grad_out)
        out2.backward(grad_out)
        torch.testing.assert_close(x.grad, x2.grad, **tol)
        torch.testing.assert_close(ours.gamma.grad, theirs.weight.grad, **tol)
        torch.testing.assert_close(ours.beta.grad, theirs.bias.grad, **tol)
        torch.testing.assert_close(ours.running_mean, theirs.running_mean, **tol)
        torch.testing.assert_close(ours.running_var, theirs.running_var, **tol)
    ours.eval()
    theirs.eval()
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), **tol)
    assert not torch.equal(ours(x), ours.train()(x)), "eval must differ from train statistics"


def test_scratch_batchnorm_momentum_convention() -> None:
    """A course momentum (0.9 = weight on the old average) is refused in torch's convention and
    converted with course_momentum=True: one step from running_mean 0 moves it by 0.1 * mean."""
    with pytest.raises(UserError, match="course_momentum=True"):
        AutogradBatchNorm(2, momentum=0.9)
    with pytest.raises(UserError, match=r"momentum in \[0, 1\]"):
        AutogradBatchNorm(2, momentum=1.5, course_momentum=True)
    bn = AutogradBatchNorm(2, momentum=0.9, course_momentum=True).double()
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)
    bn(x)
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.2, 0.4], dtype=torch.float64))
    # unbiased batch variance (2 and 8) weighted 0.1, old value 1 weighted 0.9
    torch.testing.assert_close(bn.running_var, torch.tensor([1.1, 1.7], dtype=torch.float64))


def test_scratch_batchnorm_rejects_bad_input() -> None:
    bn = AutogradBatchNorm(4)
    with pytest.raises(UserError):
        bn(torch.randn(1, 4))  # one value per channel: no variance (torch raises too)
    with pytest.raises(UserError):
        bn(torch.randn(2, 3, 5, 5))  # wrong channel count
    bn.eval()
    assert bn(torch.randn(1, 4)).shape == (1, 4)  # eval mode is fine with a batch of one


def test_bn_lenet_scratch_and_torch_norms_agree() -> None:
    def build(impl: str) -> nn.Module:
        torch.manual_seed(7)  # batch norm init draws nothing, so conv/linear weights match
        return build_model(
            "bn_lenet", in_channels=1, num_classes=10, image_size=(28, 28), impl=impl
        ).double()

    scratch, concise = build("scratch"), build("torch")
    assert sum(isinstance(m, AutogradBatchNorm) for m in scratch.modules()) == 4
    assert count(scratch) == count(concise) == 44_878
    x = torch.randn(6, 1, 28, 28, dtype=torch.float64)
    for model in (scratch, concise):
        nn.functional.cross_entropy(model(x), torch.arange(6)).backward()
    tol = {"rtol": 1e-10, "atol": 1e-10}
    grads = [p.grad for p in scratch.parameters()], [p.grad for p in concise.parameters()]
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, **tol)
    with torch.no_grad():
        torch.testing.assert_close(scratch.eval()(x), concise.eval()(x), **tol)


def test_nin_head_relu_option() -> None:
    """The book's NiN clamps class scores at 0 (a dead class channel can never win again);
    head_relu=False lets them go negative. Parameters are the same either way."""
    from scratchdl.models import build_model

    torch.manual_seed(0)
    kw = {"in_channels": 1, "num_classes": 10, "image_size": (28, 28), "stem_stride": 1}
    book = build_model("nin", **kw).eval()
    free = build_model("nin", head_relu=False, **kw).eval()
    free.load_state_dict(book.state_dict())
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert (book(x) >= 0).all()
        assert (free(x) < 0).any()


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "gelu"])
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_lenet_pools_before_a_monotone_activation_and_computes_the_book_order(
    activation: str, pool: str
) -> None:
    """LeNet runs max pooling before a monotone activation (cheaper); outputs and gradients
    equal the book's conv -> activation -> pool with the same weights."""
    from scratchdl.models._blocks import activation as make_activation
    from scratchdl.models._blocks import pool2d
    from scratchdl.models._registry import build_model

    torch.manual_seed(0)
    ours = build_model("lenet", in_channels=1, num_classes=10, image_size=(28, 28),
                       activation=activation, pool=pool).double()  # fmt: skip
    swapped = pool == "max" and activation != "gelu"
    assert isinstance(ours[1], nn.MaxPool2d) == swapped
    book = nn.Sequential(
        ours[0], make_activation(activation), pool2d(pool),
        ours[3], make_activation(activation), pool2d(pool), *ours[6:],
    )  # fmt: skip
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    out_ours, out_book = ours(x), book(x)
    torch.testing.assert_close(out_ours, out_book, rtol=0, atol=1e-12)
    g_ours = torch.autograd.grad(out_ours.sum(), list(ours.parameters()))
    g_book = torch.autograd.grad(out_book.sum(), list(ours.parameters()))
    for a, b in zip(g_ours, g_book, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
