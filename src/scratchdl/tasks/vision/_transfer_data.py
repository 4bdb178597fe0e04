"""Data and networks of the "transfer" task (scratchdl.tasks.vision.transfer): EfficientNet-Lite0
pretrained on ImageNet, trained on a small labelled subset three ways.

  frozen    the pretrained backbone as a fixed feature extractor: its pooled 1280-d features
            are computed once (eval mode) and only a new linear head is trained on them;
  finetune  the whole pretrained network trained, the backbone with a smaller learning rate
            (optimizer.lr * transfer.backbone_lr_factor) than the new head (optimizer.lr);
  scratch   the same architecture from random initialisation, every layer at optimizer.lr.

Data: `transfer.train_per_class` training images per class (seeded by train.seed,
stratified), `data.val_size` validation images from the rest of the training set
(stratified), and the whole test set. Images stay at their stored size in memory; each batch
is resized (bilinear) to transfer.image_size, grey repeated to RGB and standardised with
ImageNet's mean/std inside the model (`ImageNetInput`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from scratchdl.data import DatasetInfo
from scratchdl.data.splits import raw_arrays, stratified_split
from scratchdl.errors import UserError
from scratchdl.models.efficientnet import (
    EFFICIENTNET_OPTIONS,
    FEATURE_DIM,
    ImageNetInput,
    backbone_parameters,
    efficientnet_lite0,
    pooled_features,
)

MODES = ("frozen", "finetune", "scratch")
MODEL_NAME = "efficientnet-lite0"
MODEL_OPTIONS = EFFICIENTNET_OPTIONS  # the registry entry's options
TRANSFER_DEFAULTS = {
    "mode": "all",  # frozen, finetune, scratch, or all (the three in sequence)
    "train_per_class": 100,  # labelled training images per class
    "image_size": 64,  # side the images are resized to before the network
    "backbone_lr_factor": 0.1,  # finetune: backbone lr = optimizer.lr * this
    "frozen_epochs": 30,  # epochs of the head on frozen features (cheap); others: train.epochs
}


# ----------------------------------------------------------------------------- data


@dataclass
class Subsets:
    """Images as float32 [N, C, H, W] in [0, 1] (stored size) and int64 labels [N]."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    info: DatasetInfo
    train_idx: np.ndarray  # rows of the dataset's training set, sorted
    val_idx: np.ndarray


def stratified_subset(y: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Sorted indices of exactly `per_class` examples of each class 0..num_classes-1.

    Which examples is decided by one seeded permutation (NumPy's default_rng(seed)).
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise UserError(f"transfer.train_per_class: expected an int >= 1, got {per_class!r}")
    perm = np.random.default_rng(seed).permutation(len(y))
    shuffled = y[perm]
    picked = []
    for c in range(num_classes):
        rows = perm[shuffled == c][:per_class]
        if len(rows) < per_class:
            raise UserError(
                f"transfer.train_per_class={per_class}: class {c} has only {len(rows)} "
                "training images; lower it"
            )
        picked.append(rows)
    return np.sort(np.concatenate(picked))


def _images(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(x.astype(np.float32)).div_(255)
    return t.unsqueeze(1) if t.ndim == 3 else t


def load_subsets(dataset: str, train_per_class: int, val_size: int, seed: int) -> Subsets:
    """The labelled subset, a validation set from the remaining training images, the test set."""
    raw = raw_arrays(dataset)
    channels = 1 if raw.train_x.ndim == 3 else raw.train_x.shape[1]
    if channels not in (1, 3):
        raise UserError(f"transfer needs grey or RGB images; {dataset} has {channels} channels")
    num_classes = len(raw.classes)
    train_idx = stratified_subset(raw.train_y, train_per_class, num_classes, seed)
    rest = np.setdiff1d(np.arange(len(raw.train_y)), train_idx)
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 < val_size < len(rest):
        raise UserError(
            f"data.val_size: the transfer task needs an int count in 1..{len(rest) - 1} "
            f"(images left after the labelled subset), got {val_size!r}"
        )
    val_idx = rest[stratified_split(raw.train_y[rest], val_size, seed)[1]]
    info = DatasetInfo(
        name=dataset,
        num_classes=num_classes,
        in_channels=channels,
        image_size=tuple(raw.train_x.shape[-2:]),
        classes=list(raw.classes),
        mean=[0.0] * channels,  # pixels stay in [0, 1]; ImageNetInput standardises
        std=[1.0] * channels,
    )
    return Subsets(
        _images(raw.train_x[train_idx]),
        torch.from_numpy(raw.train_y[train_idx]),
        _images(raw.train_x[val_idx]),
        torch.from_numpy(raw.train_y[val_idx]),
        _images(raw.test_x),
        torch.from_numpy(raw.test_y.copy()),
        info,
        train_idx,
        val_idx,
    )


# ----------------------------------------------------------------------------- models


def build_network(mode: str, num_classes: int, image_size: int, options: dict[str, Any]):
    """(net, effnet): net = Sequential(ImageNetInput, effnet) takes [B, 1|3, h, w] in [0, 1].

    frozen: pretrained, backbone parameters with requires_grad=False and the backbone kept in
    eval mode by the caller; finetune: pretrained; scratch: random initialisation.
    """
    if mode not in MODES:
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise UserError(
            f"model {MODEL_NAME!r} has no option {', '.join(unknown)} "
            f"(allowed: {', '.join(MODEL_OPTIONS)})"
        )
    effnet = efficientnet_lite0(
        num_classes, pretrained=mode != "scratch", image_size=image_size, **options
    )
    if mode == "frozen":
        for p in backbone_parameters(effnet):
            p.requires_grad_(False)
    return nn.Sequential(ImageNetInput(image_size), effnet), effnet


@torch.no_grad()
def extract_features(
    net: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """[N, C, h, w] images -> [N, 1280] pooled features of net = Sequential(input, effnet).

    The network is put in eval mode (BatchNorm uses its running statistics, no dropout).
    """
    net.eval()
    prep, effnet = net[0], net[1]
    out = [
        pooled_features(effnet, prep(x[i : i + batch_size].to(device))).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, FEATURE_DIM)



