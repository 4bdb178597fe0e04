"""Confusion-matrix metrics against torchmetrics and a brute-force count; the scenes set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from scratchdl.data.segmentation import IGNORE, check_images, check_masks
from scratchdl.errors import UserError
from scratchdl.metrics.segmentation import confusion_matrix, iou_per_class, segmentation_scores


def _random_maps(seed: int, k: int, shape=(3, 17, 13), ignore_frac=0.1):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.6, target,
                       torch.randint(0, k, shape, generator=g))
    target[torch.rand(shape, generator=g) < ignore_frac] = IGNORE
    return pred, target


def test_confusion_matrix_counts_pixels_by_brute_force():
    pred, target = _random_maps(0, 4)
    cm = confusion_matrix(pred, target, 4)
    want = torch.zeros(4, 4, dtype=torch.long)
    for p, t in zip(pred.flatten().tolist(), target.flatten().tolist(), strict=True):
        if t != IGNORE:
            want[t, p] += 1
    assert torch.equal(cm, want)


@pytest.mark.parametrize("seed, k", [(1, 2), (2, 5), (3, 21)])
def test_scores_equal_torchmetrics(seed, k):
    pred, target = _random_maps(seed, k)
    scores = segmentation_scores(confusion_matrix(pred, target, k))
    acc = MulticlassAccuracy(k, average="micro", ignore_index=IGNORE)(pred, target)
    jac = MulticlassJaccardIndex(k, average=None, ignore_index=IGNORE)(pred, target)
    assert scores["pixel_accuracy"] == pytest.approx(float(acc), abs=1e-6)
    ours = iou_per_class(confusion_matrix(pred, target, k))
    present = ~ours.isnan()
    torch.testing.assert_close(ours[present].float(), jac[present], atol=1e-6, rtol=0)
    assert scores["miou"] == pytest.approx(float(jac[present].mean()), abs=1e-6)


def test_iou_by_hand_and_absent_classes_are_left_out():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    cm = confusion_matrix(pred, target, 3)
    iou = iou_per_class(cm)
    assert iou[0] == pytest.approx(1 / 2) and iou[1] == pytest.approx(2 / 3)
    assert math.isnan(iou[2])  # class 2 in neither map
    assert segmentation_scores(cm) == pytest.approx({"pixel_accuracy": 0.75,
                                                     "miou": (1 / 2 + 2 / 3) / 2})


def test_everything_ignored_gives_nan_not_an_error():
    cm = confusion_matrix(torch.zeros(2, 2), torch.full((2, 2), IGNORE), 3)
    assert cm.sum() == 0 and math.isnan(segmentation_scores(cm)["miou"])


def test_mask_and_image_checks_are_one_line_errors():
    images = np.zeros((2, 3, 4, 4), np.uint8)
    check_masks(np.array([[[0, 6], [IGNORE, 1]]] * 2).repeat(2, 1).repeat(2, 2), 7, images)
    with pytest.raises(UserError, match="label 7 is outside the classes 0..6"):
        check_masks(np.full((2, 4, 4), 7), 7, images)
    with pytest.raises(UserError, match="does not match images"):
        check_masks(np.zeros((2, 4, 5)), 7, images)
    with pytest.raises(UserError, match="expected RGB images"):
        check_images(np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(UserError, match="8-bit"):
        check_images(np.zeros((2, 3, 4, 4), np.float32))
