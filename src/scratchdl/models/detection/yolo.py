"""A YOLO-style single-stage detector (YOLOv2/v3 in small): one grid, anchors per cell.

A conv-BN-LeakyReLU backbone reduces the image by 8 (a 16 x 16 grid for 128 pixels) and two
dilated 3x3 convs widen the view; a 1x1 conv predicts, for each cell and each of the square
anchors (`anchors`: sides in pixels), objectness, class logits and a box:
centre = (cell + sigmoid(t_xy)) * stride, size = anchor * exp(t_wh).

Targets (YOLOv2's rule): an object belongs to the cell holding its centre and to the anchor
whose shape fits it best (IoU of centred boxes); later objects win a collision. Losses, each
summed and divided by the batch size: objectness BCE on every anchor (`obj_loss`), squared
error on sigmoid(t_xy) and t_wh of the responsible anchors (`box_loss`), cross-entropy of
their classes (`cls_loss`). Detection: score = sigmoid(obj) * p(class), best class per
anchor, class-wise NMS (scratchdl.ops.batched_nms).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.ops import batched_nms


def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class YOLO(nn.Module):
    stride = 8

    def __init__(self, num_classes: int, anchors: list[list[float]], width: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))
        w = width
        self.backbone = nn.Sequential(
            conv(3, w, 2), conv(w, 2 * w, 2), conv(2 * w, 2 * w), conv(2 * w, 4 * w, 2),
            conv(4 * w, 4 * w), conv(4 * w, 4 * w, dilation=2), conv(4 * w, 4 * w, dilation=4),
        )
        self.head = nn.Conv2d(4 * w, len(anchors) * (5 + num_classes), 1)
        with torch.no_grad():  # objectness starts at p = 0.01 (most anchors hold nothing)
            self.head.bias.view(len(anchors), -1)[:, 4] = -4.6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw predictions [B, gh, gw, anchors, 5 + classes] (t_x, t_y, t_w, t_h, obj, cls)."""
        y = self.head(self.backbone(x)).permute(0, 2, 3, 1)
        return y.reshape(*y.shape[:3], len(self.anchors), 5 + self.num_classes)

    def _targets(self, out: torch.Tensor, targets: list[torch.Tensor]):  # noqa: ANN202
        """(index of responsible anchors as (b, i, j, a), their box targets, classes)."""
        gh, gw = out.shape[1:3]
        idx, box, cls = [], [], []
        for b, t in enumerate(targets):
            if not len(t):
                continue
            t = t.to(out.device).float()
            wh = (t[:, 3:5] - t[:, 1:3]).clamp(min=1.0)
            centre = (t[:, 1:3] + t[:, 3:5]) / 2 / self.stride
            j = centre[:, 0].floor().clamp(0, gw - 1)
            i = centre[:, 1].floor().clamp(0, gh - 1)
            inter = torch.minimum(wh[:, None], self.anchors[None]).prod(-1)
            union = wh.prod(-1)[:, None] + self.anchors.prod(-1)[None] - inter
            a = (inter / union).argmax(1)
            idx.append(torch.stack([torch.full_like(a, b), i.long(), j.long(), a], 1))
            xy = centre - torch.stack([j, i], 1)
            box.append(torch.cat([xy, torch.log(wh / self.anchors[a])], 1))
            cls.append(t[:, 0].long())
        if not idx:
            empty = torch.zeros(0, 4, device=out.device)
            return torch.zeros(0, 4, dtype=torch.long, device=out.device), empty, empty[:, 0].long()
        idx, box, cls = torch.cat(idx), torch.cat(box), torch.cat(cls)
        # a collision (two objects, one anchor): keep the last, as a plain assignment would
        key = ((idx[:, 0] * gh + idx[:, 1]) * gw + idx[:, 2]) * len(self.anchors) + idx[:, 3]
        last = torch.zeros(int(key.max()) + 1, dtype=torch.long, device=out.device)
        last.scatter_(0, key, torch.arange(len(key), device=out.device))
        keep = last[key] == torch.arange(len(key), device=out.device)
        return idx[keep], box[keep], cls[keep]

    def loss(self, out: torch.Tensor, targets: list[torch.Tensor], hw: tuple[int, int]) -> dict:
        idx, box, cls = self._targets(out, targets)
        b = out.shape[0]
        obj_target = torch.zeros(out.shape[:4], device=out.device)
        obj_target[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]] = 1.0
        obj = F.binary_cross_entropy_with_logits(out[..., 4].float(), obj_target, reduction="sum")
        pos = out[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]].float()
        xy = F.mse_loss(pos[:, :2].sigmoid(), box[:, :2], reduction="sum")
        wh = F.mse_loss(pos[:, 2:4], box[:, 2:], reduction="sum")
        ce = F.cross_entropy(pos[:, 5:], cls, reduction="sum")
        return {"obj_loss": obj / b, "box_loss": 5 * (xy + wh) / b, "cls_loss": ce / b}

    @torch.no_grad()
    def detect(self, out: torch.Tensor, hw: tuple[int, int], nms_threshold: float = 0.5,
               max_detections: int = 100, min_score: float = 0.01) -> list[torch.Tensor]:
        """Per image [m, 6] rows (class, score, x1, y1, x2, y2) in pixels, best first."""
        out = out.float()
        gh, gw = out.shape[1:3]
        gy, gx = torch.meshgrid(torch.arange(gh, device=out.device),
                                torch.arange(gw, device=out.device), indexing="ij")
        cx = (gx[..., None] + out[..., 0].sigmoid()) * self.stride
        cy = (gy[..., None] + out[..., 1].sigmoid()) * self.stride
        w, h = self.anchors[:, 0] * out[..., 2].exp(), self.anchors[:, 1] * out[..., 3].exp()
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
        boxes[..., 0::2] = boxes[..., 0::2].clamp(0, hw[1])
        boxes[..., 1::2] = boxes[..., 1::2].clamp(0, hw[0])
        probs = out[..., 4:5].sigmoid() * out[..., 5:].softmax(-1)
        score, cls = probs.max(-1)
        result = []
        for s, c, bx in zip(score.flatten(1), cls.flatten(1), boxes.flatten(1, 3), strict=True):
            top = torch.topk(s, min(1000, len(s))).indices
            top = top[s[top] >= min_score]
            keep = top[batched_nms(bx[top], s[top], c[top], nms_threshold)][:max_detections]
            result.append(torch.cat([c[keep, None].float(), s[keep, None], bx[keep]], 1))
        return result


@register_model("yolo", kind="detector")
def yolo(*, num_classes: int, width: int = 32,
         anchors: list[int] = [14, 30, 62]) -> nn.Module:  # noqa: B006
    """YOLO-style single-stage detector: stride-8 grid, square anchors (sides in pixels)."""
    return YOLO(num_classes, [[float(a), float(a)] for a in anchors], width)
