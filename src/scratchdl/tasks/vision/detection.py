"""The "detect" task: a registered detector (TinySSD, YOLO, Faster R-CNN) on a detection set.

Targets are, as in torchvision's detection references, a list of per-image [n_i, 5] tensors
(class, xmin, ymin, xmax, ymax in pixels); n_i = 0 (an image without objects) is valid in
training and evaluation. A detector module maps images to raw outputs (`forward`, so DDP and
AMP see it), and says `loss(out, targets, hw) -> {name_loss: ...}` and `detect(out, hw) ->
per-image [m, 6] rows (class, score, box)`. The engine backpropagates the sum of the *_loss
entries (other entries are logged as training metrics, e.g. TinySSD's class_error and
bbox_mae over the training batches, the book's own measure); training_step also returns
that sum as "loss" for the log.

Evaluation on a split: mAP@0.5 (VOC all-point), COCO mAP@[.5:.95] and COCO small-object AP
(scratchdl.metrics.detection, equal to pycocotools), and for TinySSD the book's class
error (per anchor) and bbox MAE (masked offsets). test() also writes prediction figures and
per-class precision-recall curves (PNG + PDF) for the validation images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from scratchdl.data import get_dataset
from scratchdl.data.detection import ProceduralDetection, check_labels
from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.tasks import register_task
from scratchdl.tasks.vision._detection_eval import evaluate_detections
from scratchdl.train.task import Task

DATA: dict[str, Any] = {
    "dataset": "bananas",
    "image_size": 0,  # resize images (and boxes) to this side; 0 = the data's own size
    "batch_size": 32,
    "eval_batch_size": 64,
    "hflip": 0.0,  # probability of a horizontal flip of a training image and its boxes
    # > 0: the last `holdout` training images become the validation (and final) split and the
    # set's own validation and test splits are dropped: hyperparameters chosen without them
    "holdout": 0,
}
DETECT: dict[str, Any] = {
    "nms_threshold": 0.5,
    "max_detections": 100,  # per image, best first (COCO's maxDets)
    "figure_images": 8,  # validation images in the prediction figure
    "figure_score": 0.3,  # predictions drawn in the figure: score at least this
}


def _split_tensors(split: Any, num_classes: int, name: str) -> tuple[torch.Tensor, list]:
    targets = split.targets()
    for i, t in enumerate(targets):
        if len(t):
            check_labels(t, num_classes, f"{name} image {i}")
    return torch.from_numpy(np.ascontiguousarray(split.images)), [
        torch.from_numpy(np.ascontiguousarray(t, dtype=np.float32)) for t in targets
    ]


@register_task("detect")
class Detect(Task):
    defaults = {"data": DATA, "detect": DETECT, "target": {"metric": "val_map50"}}
    model_kinds = ("detector",)
    supports_channels_last = True

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        spec = get_dataset(cfg["data"]["dataset"])
        if not isinstance(spec, ProceduralDetection):
            raise UserError(
                f"data.dataset: the detect task needs a detection set (bananas, shapes), got "
                f"{spec.name!r}"
            )
        # its type (int, not bool or float) is checked with the recipe; the range needs the set
        holdout, n_train = cfg["data"]["holdout"], spec.splits["train"][0]
        if not 0 <= holdout < n_train:
            raise UserError(
                f"data.holdout: expected a whole number of training images from 0 to "
                f"{n_train - 1} ({spec.name} has {n_train}), got {holdout!r}"
            )
        size = cfg["data"]["image_size"]
        if not isinstance(size, int) or size < 0 or size % 32:
            raise UserError(f"data.image_size: expected 0 or a multiple of 32, got {size!r}")

    def setup(self) -> None:
        data = self.cfg["data"]
        arrays = get_dataset(data["dataset"]).load_detection()
        self.classes = arrays.classes
        self.splits = {
            name: _split_tensors(split, len(self.classes), f"{data['dataset']} {name}")
            for name, split in arrays.splits.items()
        }
        if data["holdout"]:  # tuning: train on the rest, never look at the real val/test
            x, t = self.splits["train"]
            n = len(x) - data["holdout"]
            self.splits = {"train": (x[:n], t[:n]), "val": (x[n:], t[n:])}
        native = self.splits["train"][0].shape[-1]
        self.size = data["image_size"] or native
        self.scale = self.size / native
        self.model = build_model(self.cfg["model"]["name"], num_classes=len(self.classes),
                                 **{k: v for k, v in self.cfg["model"].items() if k != "name"})
        self.generator = torch.Generator().manual_seed(int(self.cfg["train"]["seed"]) + 1)

    # -- data --------------------------------------------------------------------------
    def _prepare(self, images: torch.Tensor, targets: list[torch.Tensor]):  # noqa: ANN202
        """uint8 images -> float in [0, 1] at the working size; boxes scaled to match."""
        x = images.float() / 255
        if self.scale != 1:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              antialias=True, align_corners=False)
            s = torch.tensor([1, self.scale, self.scale, self.scale, self.scale])
            targets = [t * s for t in targets]
        return x, targets

    def steps_per_epoch(self) -> int:
        n, bs = len(self.splits["train"][0]), self.cfg["data"]["batch_size"]
        return max(1, n // bs)  # full batches only: every step sees batch_size images

    def train_batches(self, epoch: int):  # noqa: ANN201
        images, targets = self.splits["train"]
        g = torch.Generator().manual_seed(int(self.cfg["train"]["seed"]) * 1000 + epoch)
        order = torch.randperm(len(images), generator=g)
        bs = self.cfg["data"]["batch_size"]
        for step in range(self.steps_per_epoch()):
            idx = order[step * bs : (step + 1) * bs]
            x, t = self._prepare(images[idx], [targets[i] for i in idx.tolist()])
            flip = torch.rand(len(idx), generator=g) < self.cfg["data"]["hflip"]
            if flip.any():
                x[flip] = x[flip].flip(-1)
                flips = flip.tolist()
                t = [_hflip(b, self.size) if f else b for b, f in zip(t, flips, strict=True)]
            yield x, t

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, targets = batch
        out = self.model(x)
        losses = self.module("model").loss(out, targets, (self.size, self.size))
        total = sum(v for k, v in losses.items() if k.endswith("_loss"))  # the rest: metrics
        return {"loss": total, **losses}

    # -- evaluation --------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, split: str) -> tuple[list, list, dict[str, float]]:
        """(predictions, targets, anchor metrics) over a whole split, model in eval mode."""
        model = self.module("model")
        was_training = model.training
        model.eval()
        images, targets = self.splits[split]
        preds, sums = [], {"cls_wrong": 0.0, "cls_n": 0.0, "bbox_abs": 0.0, "bbox_n": 0.0}
        bs, hw = self.cfg["data"]["eval_batch_size"], (self.size, self.size)
        det = self.cfg["detect"]
        for start in range(0, len(images), bs):
            x, t = self._prepare(images[start : start + bs], targets[start : start + bs])
            x, t = x.to(self.device), [b.to(self.device) for b in t]
            out = model(x)
            preds += [p.cpu() for p in model.detect(out, hw, det["nms_threshold"],
                                                      det["max_detections"])]
            if hasattr(model, "targets"):  # anchor-based: the book's class error and bbox MAE
                bbox_labels, masks, cls_labels = model.targets(out, t, hw)
                sums["cls_wrong"] += float((out[1].argmax(-1) != cls_labels).sum())
                sums["cls_n"] += cls_labels.numel()
                sums["bbox_abs"] += float(((out[2] - bbox_labels) * masks).abs().sum())
                sums["bbox_n"] += bbox_labels.numel()
        model.train(was_training)
        extra = {}
        if sums["cls_n"]:
            extra = {"class_error": sums["cls_wrong"] / sums["cls_n"],
                     "bbox_mae": sums["bbox_abs"] / sums["bbox_n"]}
        truth = [t * torch.tensor([1, *[self.scale] * 4]) for t in targets]
        return preds, truth, extra

    def evaluate(self, split: str) -> dict[str, float]:
        if split not in self.splits:
            return {}
        preds, truth, extra = self.predict(split)
        metrics = evaluate_detections(preds, truth, len(self.classes))
        return {**{k: v for k, v in metrics.items() if not k.startswith("_")}, **extra}

    def test(self) -> dict[str, float]:
        """Final numbers on the test split and the figures. A set without a test split
        (bananas: 1000 train / 100 val, as the book's) reports its validation split, which
        the book uses as its held-out set too (no model selection is done on it)."""
        self.write_figures("val")
        split = "test" if "test" in self.splits else "val"
        return {f"test_{k}": v for k, v in self.evaluate(split).items()}

    def write_figures(self, split: str) -> None:
        """predictions_<split>.png/pdf (boxes with class and score) and pr_<split>.png/pdf."""
        if self.rank != 0 or split not in self.splits:
            return
        from scratchdl.plots.detection import box_grid, pr_curves

        preds, truth, _ = self.predict(split)
        det = self.cfg["detect"]
        n = min(det["figure_images"], len(preds))
        if n > 0:
            images, _ = self._prepare(self.splits[split][0][:n], [])
            shown = [p[p[:, 1] >= det["figure_score"]].numpy() for p in preds[:n]]
            box_grid((images * 255).round().byte().numpy(), [t.numpy() for t in truth[:n]],
                     self.classes, self.run.run_dir / f"predictions_{split}", shown,
                     title=f"{split}: predictions (score >= {det['figure_score']}) "
                     "and truth (dashed)")
        curves = evaluate_detections(preds, truth, len(self.classes))["_curves"]
        pr_curves({self.classes[c]: v for c, v in curves.items()},
                  self.run.run_dir / f"pr_{split}", title=f"{split}: precision-recall, IoU 0.5")


def _hflip(targets: torch.Tensor, width: int) -> torch.Tensor:
    out = targets.clone()
    out[:, 1], out[:, 3] = width - targets[:, 3], width - targets[:, 1]
    return out
