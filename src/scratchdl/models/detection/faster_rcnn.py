"""Faster R-CNN (Ren et al., 2015) in small: ResNet features, an RPN, RoI align, a box head.

Backbone: the zoo's ResNet (models/resnet.py: stem, layer1..3, trained from scratch); layer3
(stride 16) is upsampled and added to layer2 (stride 8) through 1x1 convs, one feature map
of stride 8. RPN: a 3x3 conv, then per pixel objectness and offsets for multi-scale anchors
(sizes `anchor_sizes`, percent of the image side, ratios 1, 2, 0.5, combined as multibox_prior).
RPN training: anchors with IoU >= 0.7 (and each object's best anchor) are positive, < 0.3
negative, the rest ignored; `rpn_batch` of them sampled per image, half positive at most.
Proposals: decoded, clipped, the top `pre_nms` by objectness, NMS 0.7, the best `post_nms`.
Head: ground-truth boxes join the proposals in training; IoU >= 0.5 -> the object's class,
else background; `roi_batch` sampled per image, a quarter foreground at most; RoI align 7x7
(sampling 2, aligned) -> two FC layers -> class logits and class-agnostic offsets.
Offsets use the book's encoding (centre / 0.1, log size / 0.2).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.models.resnet import resnet
from scratchdl.ops import (
    assign_anchors,
    batched_nms,
    box_iou,
    decode_offsets,
    encode_offsets,
    multibox_prior,
    nms,
)
from scratchdl.ops.roi import roi_align

RATIOS = [1.0, 2.0, 0.5]


def _sample(labels: torch.Tensor, total: int, fg_fraction: float) -> torch.Tensor:
    """Indices of at most `total` entries: up to total * fg_fraction with label > 0, the rest
    with label == 0 (label < 0 = ignored), chosen at random."""
    fg, bg = (labels > 0).nonzero().flatten(), (labels == 0).nonzero().flatten()
    fg = fg[torch.randperm(len(fg), device=fg.device)[: int(total * fg_fraction)]]
    bg = bg[torch.randperm(len(bg), device=bg.device)[: total - len(fg)]]
    return torch.cat([fg, bg])


def _clip(boxes: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    return torch.stack([boxes[:, 0].clamp(0, hw[1]), boxes[:, 1].clamp(0, hw[0]),
                        boxes[:, 2].clamp(0, hw[1]), boxes[:, 3].clamp(0, hw[0])], 1)


class FasterRCNN(nn.Module):
    stride = 8

    def __init__(self, num_classes: int, width: float, layers: list[int],
                 anchor_sizes: list[float], channels: int = 64, rpn_batch: int = 128,
                 roi_batch: int = 64, pre_nms: int = 600, post_nms: int = 100) -> None:
        super().__init__()
        self.num_classes, self.anchor_sizes = num_classes, anchor_sizes
        self.rpn_batch, self.roi_batch = rpn_batch, roi_batch
        self.pre_nms, self.post_nms = pre_nms, post_nms
        net = resnet(in_channels=3, num_classes=1, image_size=(0, 0), layers=layers, width=width)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
        self.layer2, self.layer3 = net.layer2, net.layer3
        c2, c3 = net.layer2[-1].out_channels, net.layer3[-1].out_channels
        self.lateral2, self.lateral3 = nn.Conv2d(c2, channels, 1), nn.Conv2d(c3, channels, 1)
        self.num_anchors = len(anchor_sizes) + len(RATIOS) - 1
        self.rpn_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.rpn_obj = nn.Conv2d(channels, self.num_anchors, 1)
        self.rpn_box = nn.Conv2d(channels, self.num_anchors * 4, 1)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(channels * 49, 256), nn.ReLU(),
                                nn.Linear(256, 256), nn.ReLU())
        self.cls_head, self.box_head = nn.Linear(256, num_classes + 1), nn.Linear(256, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features [B, C, H/8, W/8], RPN objectness [B, A], RPN offsets [B, A, 4])."""
        c2 = self.layer2(self.stem(x))
        c3 = self.layer3(c2)
        up = F.interpolate(self.lateral3(c3), size=c2.shape[-2:], mode="nearest")
        feat = self.lateral2(c2) + up
        h = F.relu(self.rpn_conv(feat))
        obj = self.rpn_obj(h).permute(0, 2, 3, 1).flatten(1)
        box = self.rpn_box(h).permute(0, 2, 3, 1).reshape(len(x), -1, 4)
        return feat, obj, box

    def anchors(self, feat: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return multibox_prior(feat.shape[-2:], self.anchor_sizes, RATIOS, image_hw=hw,
                              device=feat.device)

    def proposals(self, out: tuple, hw: tuple[int, int]) -> list[torch.Tensor]:
        """Per image the RPN's best boxes after NMS (no gradient flows into them)."""
        feat, obj, box = (t.detach().float() for t in out)
        anchors = self.anchors(feat, hw)
        result = []
        for o, b in zip(obj, box, strict=True):
            top = torch.topk(o, min(self.pre_nms, len(o))).indices
            boxes = _clip(decode_offsets(anchors[top], b[top]), hw)
            ok = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
            boxes, scores = boxes[ok], o[top][ok]
            result.append(boxes[nms(boxes, scores, 0.7)[: self.post_nms]])
        return result

    def _roi_head(self, feat: torch.Tensor, rois: list[torch.Tensor]):  # noqa: ANN202
        pooled = roi_align(feat, rois, 7, 1 / self.stride, sampling_ratio=2, aligned=True)
        h = self.fc(pooled)
        return self.cls_head(h), self.box_head(h)

    def loss(self, out: tuple, targets: list[torch.Tensor], hw: tuple[int, int]) -> dict:
        feat, obj, box = out
        anchors = self.anchors(feat, hw)
        rpn_obj, rpn_box, rois, roi_cls, roi_off = [], [], [], [], []
        for b, (t, props) in enumerate(zip(targets, self.proposals(out, hw), strict=True)):
            gt = t[:, 1:].to(feat.device).float()
            # RPN: positive / negative / ignored anchors, sampled
            label = torch.zeros(len(anchors), device=feat.device)
            match = torch.zeros(len(anchors), dtype=torch.long, device=feat.device)
            if len(gt):
                best = box_iou(anchors, gt).max(1).values
                assigned = assign_anchors(gt, anchors, 0.7)
                match = assigned.clamp(min=0)
                label = torch.where(best < 0.3, 0.0, -1.0)
                label[assigned >= 0] = 1.0
            pick = _sample(label, self.rpn_batch, 0.5)
            rpn_obj.append(F.binary_cross_entropy_with_logits(
                obj[b, pick].float(), label[pick], reduction="sum"))
            pos = pick[label[pick] > 0]
            if len(pos):
                target = encode_offsets(anchors[pos], gt[match[pos]])
                rpn_box.append(F.smooth_l1_loss(box[b, pos].float(), target, beta=1 / 9,
                                                reduction="sum"))
            # head: proposals + ground truth, labelled by IoU, sampled
            cand = torch.cat([props, gt])
            cls = torch.zeros(len(cand), dtype=torch.long, device=feat.device)
            m = torch.zeros(len(cand), dtype=torch.long, device=feat.device)
            if len(gt):
                iou = box_iou(cand, gt)
                best, m = iou.max(1)
                cls = torch.where(best >= 0.5, t[:, 0].to(feat.device).long()[m] + 1, 0)
            pick = _sample(cls, self.roi_batch, 0.25)
            rois.append(cand[pick])
            roi_cls.append(cls[pick])
            roi_off.append(encode_offsets(cand[pick], gt[m[pick]]) if len(gt)
                           else torch.zeros(len(pick), 4, device=feat.device))
        logits, offsets = self._roi_head(feat, rois)
        cls, off = torch.cat(roi_cls), torch.cat(roi_off)
        fg = cls > 0
        n_rpn = self.rpn_batch * len(targets)
        zero = feat.sum() * 0
        return {
            "rpn_obj_loss": sum(rpn_obj) / n_rpn,
            "rpn_box_loss": (sum(rpn_box) if rpn_box else zero) / n_rpn,
            "cls_loss": F.cross_entropy(logits.float(), cls),
            "box_loss": F.smooth_l1_loss(offsets[fg].float(), off[fg], beta=1 / 9,
                                         reduction="sum") / max(1, len(cls)),
        }

    @torch.no_grad()
    def detect(self, out: tuple, hw: tuple[int, int], nms_threshold: float = 0.5,
               max_detections: int = 100, min_score: float = 0.01) -> list[torch.Tensor]:
        """Per image [m, 6] rows (class, score, x1, y1, x2, y2) in pixels, best first."""
        props = self.proposals(out, hw)
        logits, offsets = self._roi_head(out[0].float(), props)
        probs = logits.float().softmax(-1)[:, 1:]
        boxes = _clip(decode_offsets(torch.cat(props), offsets.float()), hw)
        result, start = [], 0
        for p in props:
            pr, bx = probs[start : start + len(p)], boxes[start : start + len(p)]
            start += len(p)
            score = pr.flatten()
            cls = torch.arange(self.num_classes, device=score.device).repeat(len(p))
            bx = bx.repeat_interleave(self.num_classes, 0)
            ok = score >= min_score
            score, cls, bx = score[ok], cls[ok], bx[ok]
            keep = batched_nms(bx, score, cls, nms_threshold)[:max_detections]
            result.append(torch.cat([cls[keep, None].float(), score[keep, None], bx[keep]], 1))
        return result


@register_model("fasterrcnn", kind="detector")
def fasterrcnn(*, num_classes: int, width: float = 0.5, layers: list[int] = [1, 1, 1],  # noqa: B006
               anchor_sizes: list[int] = [10, 20, 40, 70]) -> nn.Module:  # noqa: B006
    """Faster R-CNN: ResNet (zoo) features at stride 8, RPN, RoI align, box head.

    anchor_sizes: anchor sides in percent of the image side (multibox_prior's sizes x 100)."""
    return FasterRCNN(num_classes, width, layers, [s / 100 for s in anchor_sizes])
