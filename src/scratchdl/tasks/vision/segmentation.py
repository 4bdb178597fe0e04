"""The "segment" task: a registered segmenter (FCN, U-Net) on a segmentation set (scenes).

Per-pixel cross-entropy, pixels labelled IGNORE (255, unlabelled) left out. Evaluation sums
one confusion matrix over the whole split (exact, not an average of batch scores) and reports
pixel accuracy and mIoU (scratchdl.metrics.segmentation); test() adds the IoU of every class
and writes predictions_val.png/pdf: image | truth | prediction for some validation images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from scratchdl.data import get_dataset
from scratchdl.data.segmentation import IGNORE, ProceduralSegmentation
from scratchdl.errors import UserError
from scratchdl.metrics.segmentation import confusion_matrix, iou_per_class, segmentation_scores
from scratchdl.models import build_model
from scratchdl.tasks import register_task
from scratchdl.train.task import Task

DATA: dict[str, Any] = {
    "dataset": "scenes",
    "batch_size": 32,
    "eval_batch_size": 64,
    "hflip": 0.5,  # probability of flipping a training image and its mask left-right
}
SEGMENT: dict[str, Any] = {"figure_images": 6}


@register_task("segment")
class Segment(Task):
    defaults = {"data": DATA, "segment": SEGMENT, "target": {"metric": "test_miou"}}
    model_kinds = ("segmenter",)
    supports_channels_last = True

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        spec = get_dataset(cfg["data"]["dataset"])
        if not isinstance(spec, ProceduralSegmentation):
            raise UserError(f"data.dataset: the segment task needs a segmentation set "
                            f"(scenes), got {spec.name!r}")
        if not 0 <= cfg["data"]["hflip"] <= 1:
            raise UserError(f"data.hflip: expected a probability, got {cfg['data']['hflip']}")

    def setup(self) -> None:
        arrays = get_dataset(self.cfg["data"]["dataset"]).load_segmentation()
        self.classes = arrays.classes
        self.splits = {name: (torch.from_numpy(s.images), torch.from_numpy(s.masks).long())
                       for name, s in arrays.splits.items()}
        size = int(self.splits["train"][0].shape[-1])
        options = {k: v for k, v in self.cfg["model"].items() if k != "name"}
        self.model = build_model(self.cfg["model"]["name"], num_classes=len(self.classes),
                                 image_size=size, **options)

    # -- training ------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return max(1, len(self.splits["train"][0]) // self.cfg["data"]["batch_size"])

    def train_batches(self, epoch: int):  # noqa: ANN201
        images, masks = self.splits["train"]
        g = torch.Generator().manual_seed(int(self.cfg["train"]["seed"]) * 1000 + epoch)
        order = torch.randperm(len(images), generator=g)
        bs = self.cfg["data"]["batch_size"]
        for step in range(self.steps_per_epoch()):
            idx = order[step * bs : (step + 1) * bs]
            x, y = images[idx].float() / 255, masks[idx]
            flip = torch.rand(len(idx), generator=g) < self.cfg["data"]["hflip"]
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            yield x, y

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, ignore_index=IGNORE)
        labelled = y != IGNORE
        acc = (logits.detach().argmax(1) == y)[labelled].float().mean()
        return {"loss": loss, "pixel_accuracy": acc}

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, split: str, n: int | None = None) -> torch.Tensor:
        """Predicted label maps [N, H, W] (int64, on the CPU) of the first n images."""
        model = self.module("model")
        images = self.splits[split][0][:n]
        bs, out = self.cfg["data"]["eval_batch_size"], []
        for start in range(0, len(images), bs):
            x = (images[start : start + bs].float() / 255).to(self.device)
            out.append(model(x).argmax(1).cpu())
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def confusion(self, split: str) -> torch.Tensor:
        return confusion_matrix(self.predict(split), self.splits[split][1], len(self.classes),
                                IGNORE)

    def evaluate(self, split: str) -> dict[str, float]:
        if split not in self.splits or len(self.splits[split][0]) == 0:
            return {}
        return segmentation_scores(self.confusion(split))

    def test(self) -> dict[str, float]:
        """Test pixel accuracy, mIoU and per-class IoU; the validation prediction figure."""
        self.write_figure("val")
        split = "test" if "test" in self.splits else "val"
        cm = self.confusion(split)
        out = {f"test_{k}": v for k, v in segmentation_scores(cm).items()}
        for name, iou in zip(self.classes, iou_per_class(cm).tolist(), strict=True):
            out[f"test_iou_{name}"] = iou
        return out

    def write_figure(self, split: str) -> None:
        if self.rank != 0 or split not in self.splits:
            return
        from scratchdl.plots.segmentation import prediction_grid

        n = min(int(self.cfg["segment"]["figure_images"]), len(self.splits[split][0]))
        if n < 1:
            return
        images, masks = self.splits[split]
        prediction_grid(images[:n].numpy(), masks[:n].numpy(), self.predict(split, n).numpy(),
                        self.classes, self.run.run_dir / f"predictions_{split}")

