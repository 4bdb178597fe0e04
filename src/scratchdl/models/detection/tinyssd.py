"""TinySSD (Dive into Deep Learning, sec. 14.7): a single-shot multibox detector in small.

A base net of three down-sampling blocks (3 -> 16 -> 32 -> 64 channels), three more blocks
(128 channels) and a global max pool give five feature maps (32, 16, 8, 4, 1 pixels for a
256 input); each pixel of map i has 4 anchors (sizes `SIZES[i]`, ratios 1, 2, 0.5, combined
as the book's multibox_prior) and a 3x3 conv predicting their classes (background + objects)
and offsets. Loss as the book: per-anchor cross-entropy plus masked L1 on the offsets, each
averaged per image. Boxes are normalised to [0, 1] inside; `detect` returns pixels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.ops import multibox_detection, multibox_prior, multibox_target

SIZES = [[0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]]
RATIOS = [1.0, 2.0, 0.5]


def down_sample_blk(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU then a 2x2 max pool: halves height and width."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1),
                   nn.BatchNorm2d(out_channels), nn.ReLU()]
        in_channels = out_channels
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class TinySSD(nn.Module):
    def __init__(self, num_classes: int, base_channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_anchors = len(SIZES[0]) + len(RATIOS) - 1
        chans = [3, *base_channels]
        base = [down_sample_blk(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)]
        blocks = [nn.Sequential(*base), down_sample_blk(chans[-1], 128),
                  down_sample_blk(128, 128), down_sample_blk(128, 128), nn.AdaptiveMaxPool2d(1)]
        self.blocks = nn.ModuleList(blocks)
        outs = [chans[-1], 128, 128, 128, 128]
        a, c = self.num_anchors, num_classes + 1
        self.cls = nn.ModuleList(nn.Conv2d(o, a * c, 3, padding=1) for o in outs)
        self.bbox = nn.ModuleList(nn.Conv2d(o, a * 4, 3, padding=1) for o in outs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(anchors [A, 4] normalised, class logits [B, A, C + 1], offsets [B, A * 4])."""
        anchors, cls, bbox = [], [], []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            anchors.append(multibox_prior(x.shape[-2:], SIZES[i], RATIOS, device=x.device))
            cls.append(self.cls[i](x).permute(0, 2, 3, 1).flatten(1))
            bbox.append(self.bbox[i](x).permute(0, 2, 3, 1).flatten(1))
        logits = torch.cat(cls, 1).reshape(x.shape[0], -1, self.num_classes + 1)
        return torch.cat(anchors), logits, torch.cat(bbox, 1)

    @staticmethod
    def _normalised(targets: list[torch.Tensor], hw: tuple[int, int]) -> list[torch.Tensor]:
        scale = torch.tensor([1, hw[1], hw[0], hw[1], hw[0]], dtype=torch.float32)
        return [t.float() / scale.to(t.device) for t in targets]

    def targets(self, out: tuple, targets: list[torch.Tensor], hw: tuple[int, int]):  # noqa: ANN201
        """The book's multibox targets (offsets, mask, classes) of pixel-box targets."""
        return multibox_target(out[0], self._normalised(targets, hw))

    def loss(self, out: tuple, targets: list[torch.Tensor], hw: tuple[int, int]) -> dict:
        """cls_loss + box_loss, each the book's per-image mean, averaged over the batch; and,
        not losses (no gradient), the book's training measures of the batch: class_error
        (share of anchors whose argmax class is wrong) and bbox_mae (masked offsets). The
        book prints their average over the last epoch's training batches."""
        _, logits, offsets = out
        bbox_labels, bbox_masks, cls_labels = self.targets(out, targets, hw)
        cls = F.cross_entropy(logits.flatten(0, 1), cls_labels.flatten(), reduction="none")
        box = F.l1_loss(offsets * bbox_masks, bbox_labels * bbox_masks, reduction="none")
        box_loss = box.mean()  # the book's bbox MAE too: |offset error| over every entry
        return {
            "cls_loss": cls.reshape(len(logits), -1).mean(1).mean(),
            "box_loss": box_loss,
            "class_error": (logits.argmax(-1) != cls_labels).float().mean(),
            "bbox_mae": box_loss.detach(),
        }

    @torch.no_grad()
    def detect(self, out: tuple, hw: tuple[int, int], nms_threshold: float = 0.5,
               max_detections: int = 100) -> list[torch.Tensor]:
        """Per image [m, 6] rows (class, score, x1, y1, x2, y2) in pixels, best first."""
        anchors, logits, offsets = out
        probs = F.softmax(logits.float(), dim=2).permute(0, 2, 1)
        dets = multibox_detection(probs, offsets.float(), anchors, nms_threshold,
                                  nms_impl="torchvision")  # the fused kernel, same rows
        scale = torch.tensor([1, 1, hw[1], hw[0], hw[1], hw[0]], device=dets.device)
        return [(d[d[:, 0] >= 0][:max_detections] * scale) for d in dets]


@register_model("tinyssd", kind="detector")
def tinyssd(*, num_classes: int, base_channels: list[int] = [16, 32, 64]) -> nn.Module:  # noqa: B006
    """TinySSD (the book's sec. 14.7): 5 scales, 4 anchors per pixel, 3x3 conv heads."""
    return TinySSD(num_classes, tuple(base_channels))
