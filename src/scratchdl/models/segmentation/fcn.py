"""FCN (Long et al. 2015; book sec. 13.11): a pretrained CNN without its head, a 1x1 conv to
the classes, and one transposed conv that upsamples 32x back to the input size, initialised
as bilinear interpolation (so training starts from a smooth upsampled coarse map).

The backbone is the pretrained EfficientNet-Lite0 (ImageNet, from PyPI; the book uses a
ResNet-18). stride=32 (the book's FCN-32s): up to its last 1x1 conv, 1280 channels at 1/32
of the input side. stride=16: up to block 10, 112 channels at 1/16, for small inputs where
1/32 leaves a 4x4 map (128 px) too coarse for small objects. The transposed conv (kernel
2 stride, padding stride/2) is scratchdl.nn.ConvTranspose2d (hand-written, equal to
nn.ConvTranspose2d).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.models._registry import register_model
from scratchdl.nn import ConvTranspose2d, bilinear_kernel


class FCN(nn.Module):
    def __init__(self, num_classes: int, image_size: int, pretrained: bool = True,
                 stride: int = 32) -> None:
        super().__init__()
        from scratchdl.models.efficientnet import ImageNetInput, efficientnet_lite0

        net = efficientnet_lite0(pretrained=pretrained, image_size=image_size, drop_connect=0.0)
        self.normalize = ImageNetInput(image_size)
        layers = [net._conv_stem, net._bn0, net._swish]
        if stride == 32:  # every block, then the 1x1 head conv: what the classifier saw
            layers += [*net._blocks, net._conv_head, net._bn1, net._swish]
        else:  # blocks 0..10 end at stride 16 (block 11 halves the size again)
            layers += list(net._blocks[:11])
        self.backbone = nn.Sequential(*layers)
        channels = 1280 if stride == 32 else 112
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.upsample = ConvTranspose2d(num_classes, num_classes, 2 * stride, stride=stride,
                                        padding=stride // 2, bias=False)
        with torch.no_grad():
            self.upsample.weight.copy_(bilinear_kernel(num_classes, num_classes, 2 * stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.classifier(self.backbone(self.normalize(x))))


@register_model("fcn", kind="segmenter", options={"pretrained": True, "stride": 32})
def fcn(*, num_classes: int, image_size: int, pretrained: bool = True, stride: int = 32) -> FCN:
    """FCN-32s (or -16s) on pretrained EfficientNet-Lite0 features, bilinear upsampling."""
    from scratchdl.errors import UserError

    if stride not in (16, 32):
        raise UserError(f"fcn: model.stride must be 16 or 32, got {stride!r}")
    if image_size % 32:
        raise UserError(f"fcn: image side must be a multiple of 32, got {image_size}")
    return FCN(num_classes, image_size, pretrained, stride)
