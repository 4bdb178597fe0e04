"""Semantic-segmentation metrics from one confusion matrix (VOC's way, book sec. 13.9).

`confusion_matrix(pred, target, K)` counts pixels: entry [t, p] = pixels of true class t
predicted as p; pixels whose target is `ignore_index` (unlabelled) are left out. From it:
pixel accuracy = trace / total; IoU of class c = TP / (TP + FP + FN) = cm[c, c] /
(row c + column c - cm[c, c]); mIoU = the mean IoU over classes that occur in the target or
the prediction (a class absent from both has no IoU: NaN, left out of the mean, as in
torchmetrics' JaccardIndex with absent classes skipped). Summing matrices over batches gives
the exact dataset numbers.
"""

from __future__ import annotations

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = 255) -> torch.Tensor:
    """int64 [K, K] counts for integer label maps `pred` and `target` of one shape."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    if len(target) and (target.min() < 0 or target.max() >= num_classes
                        or pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"labels outside 0..{num_classes - 1} (not ignore_index)")
    flat = target * num_classes + pred
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(cm: torch.Tensor) -> torch.Tensor:
    """float64 [K]: IoU of each class; NaN where the class is in neither target nor pred."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))


def segmentation_scores(cm: torch.Tensor) -> dict[str, float]:
    """pixel_accuracy and miou (over the classes present) of a confusion matrix."""
    total = float(cm.sum())
    iou = iou_per_class(cm)
    present = iou[~iou.isnan()]
    return {
        "pixel_accuracy": float(cm.diag().sum()) / total if total else float("nan"),
        "miou": float(present.mean()) if len(present) else float("nan"),
    }
