"""FCN (Long et al. 2015; book sec. 13.11): a pretrained CNN without its head, a 1x1 conv to
the classes, and one transposed conv that upsamples 32x back to the input size, initialised
as bilinear interpolation (so training starts from a smooth upsampled coarse map).

The backbone is the pretrained EfficientNet-Lite0 (ImageNet, from PyPI; the book uses a
ResNet-18) up to its last 1x1 conv: 1280 channels at 1/32 of the input side. The transposed
conv is scratchdl.nn.ConvTranspose2d (hand-written, equal to nn.ConvTranspose2d).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.models.registry import register_model
from scratchdl.nn import ConvTranspose2d, bilinear_kernel


class FCN(nn.Module):
    def __init__(self, num_classes: int, image_size: int, pretrained: bool = True) -> None:
        super().__init__()
        from scratchdl.vision.efficientnet import ImageNetInput, efficientnet_lite0

        net = efficientnet_lite0(pretrained=pretrained, image_size=image_size, drop_connect=0.0)
        self.normalize = ImageNetInput(image_size)
        self.backbone = net  # only extract_features is used: pooling and _fc stay unused
        del net._fc, net._dropout
        self.classifier = nn.Conv2d(1280, num_classes, kernel_size=1)
        self.upsample = ConvTranspose2d(num_classes, num_classes, 64, stride=32, padding=16,
                                        bias=False)
        with torch.no_grad():
            self.upsample.weight.copy_(bilinear_kernel(num_classes, num_classes, 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.classifier(self.backbone.extract_features(self.normalize(x))))


@register_model("fcn", kind="segmenter", options={"pretrained": True})
def fcn(*, num_classes: int, image_size: int, pretrained: bool = True) -> FCN:
    """FCN-32s on pretrained EfficientNet-Lite0 features, bilinear-initialised upsampling."""
    if image_size % 32:
        from scratchdl.errors import UserError

        raise UserError(f"fcn: image side must be a multiple of 32, got {image_size}")
    return FCN(num_classes, image_size, pretrained)
