"""Registry entry of EfficientNet-Lite0, the ImageNet network the transfer task adapts.

Its options are the transfer recipe's [model] keys. `pretrained` is a data argument: the
transfer task loads the ImageNet weights in its frozen and finetune modes, not in scratch.
"""

from __future__ import annotations

from typing import Any

from scratchdl.models.registry import register_model

EFFICIENTNET_OPTIONS: dict[str, Any] = {"dropout": 0.2, "drop_connect": 0.2, "bn_momentum": 0.1}


@register_model("efficientnet-lite0", "pretrained", options=EFFICIENTNET_OPTIONS)
def efficientnet_lite0(*, num_classes: int, image_size: int, pretrained: bool, **options: Any):
    """EfficientNet-Lite0 (ImageNet weights, 4.7M parameters) with a new num_classes head."""
    from scratchdl.vision.efficientnet import efficientnet_lite0 as build

    return build(num_classes, pretrained=pretrained, image_size=image_size, **options)
