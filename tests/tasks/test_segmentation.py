"""FCN and U-Net, the scenes set and the segment task through the runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchdl.data.cache import save_verified_npz
from scratchdl.data.procedural import render_set
from scratchdl.data.segmentation import SCENES, ProceduralSegmentation
from scratchdl.errors import UserError
from scratchdl.metrics.segmentation import confusion_matrix, segmentation_scores
from scratchdl.models import build_model
from scratchdl.nn import bilinear_kernel
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 64-pixel, 2-class scenes-like set registered as 'tiny-seg', cached under tmp_path."""
    from scratchdl.data.registry import _REGISTRY

    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "runs"))
    spec = ProceduralSegmentation("tiny-seg", "test", ["square", "circle"], size=64,
                                  n_objects=(1, 2), scale=(0.3, 0.6),
                                  splits={"train": (16, 1), "val": (8, 2), "test": (8, 3)})
    monkeypatch.setitem(_REGISTRY, "tiny-seg", spec)
    spec.fetch()
    return spec


@pytest.mark.slow
def test_fcn_starts_as_bilinear_upsampling_of_its_class_map():
    x = torch.rand(2, 3, 64, 64)
    for stride in (32, 16):
        model = build_model("fcn", num_classes=3, image_size=64, stride=stride).eval()
        coarse = model.classifier(model.backbone(model.normalize(x)))
        assert coarse.shape == (2, 3, 64 // stride, 64 // stride)
        assert model(x).shape == (2, 3, 64, 64)
        torch.testing.assert_close(model.upsample.weight, bilinear_kernel(3, 3, 2 * stride))
        ref = F.interpolate(coarse, scale_factor=stride, mode="bilinear", align_corners=False)
        s = stride
        torch.testing.assert_close(model(x)[..., s:-s, s:-s], ref[..., s:-s, s:-s],
                                   rtol=1e-4, atol=1e-4)
    with pytest.raises(UserError, match="16 or 32"):
        build_model("fcn", num_classes=3, image_size=64, stride=8)


def test_unet_keeps_the_size_and_concatenates_its_skips():
    torch.manual_seed(0)
    model = build_model("unet", num_classes=4, image_size=32, width=8, depth=2)
    assert [m[0].in_channels for m in model.merge] == [32, 16]  # up + skip, deepest first
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 4, 32, 32)
    out.square().sum().backward()
    assert x.grad.abs().sum() > 0
    # the last merge reads [full-resolution encoder map, upsampled decoder map]
    seen = {}
    model.down[0].register_forward_hook(lambda m, i, o: seen.__setitem__("skip", o))
    model.merge[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("merged", i[0]))
    model(x)
    assert seen["merged"].shape == (2, 16, 32, 32)
    torch.testing.assert_close(seen["merged"][:, :8], seen["skip"])
    with pytest.raises(UserError, match="divisible by 4"):
        model(torch.rand(1, 3, 30, 32))


def test_all_background_scores_a_low_miou_on_scenes():
    data = render_set(SCENES.compositor(), 40, 1512, class_masks=True)
    masks = torch.from_numpy(data["class_masks"]).long()
    scores = segmentation_scores(confusion_matrix(torch.zeros_like(masks), masks, 7))
    background = float((masks == 0).float().mean())
    assert scores["pixel_accuracy"] == pytest.approx(background)
    assert 0.5 < background < 0.95  # many background pixels: pixel accuracy flatters...
    assert scores["miou"] < 0.15  # ...mIoU does not


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["fcn-scenes", "unet-scenes"])
def test_each_recipe_runs_with_metrics_and_figure(tiny, tmp_path, recipe):
    opts = ["model.width=4", "model.depth=2"] if recipe == "unet-scenes" else []
    cfg = load_recipe(recipe, ["data.dataset=tiny-seg", "data.batch_size=8", "train.epochs=1",
                               "segment.figure_images=2", *opts])
    out = tmp_path / recipe
    summary = run_recipe(cfg, out=out, quiet=True)
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("train_loss", "train_pixel_accuracy", "val_pixel_accuracy", "val_miou"):
        assert key in row and np.isfinite(row[key])
    final = summary["final"]
    assert 0 <= final["test_miou"] <= 1 and 0 <= final["test_pixel_accuracy"] <= 1
    assert {"test_iou_background", "test_iou_square", "test_iou_circle"} <= set(final)
    assert (out / "predictions_val.png").stat().st_size > 0
    assert (out / "predictions_val.pdf").exists()


def test_bad_masks_and_sets_are_refused(tiny, tmp_path):
    with pytest.raises(UserError, match="needs a segmentation set"):
        run_recipe(load_recipe("fcn-scenes", ["data.dataset=digits"]), quiet=True)
    images = np.zeros((2, 3, 64, 64), np.uint8)
    masks = np.full((2, 64, 64), 9, np.uint8)
    save_verified_npz(tiny.cache_file, {f"{s}_{k}": v for s in ("train", "val", "test")
                                        for k, v in (("images", images), ("masks", masks))})
    with pytest.raises(UserError, match="label 9 is outside the classes 0..2"):
        tiny.load_segmentation()
    save_verified_npz(tiny.cache_file, {f"{s}_{k}": v for s in ("train", "val", "test")
                                        for k, v in (("images", images[:, :1]),
                                                     ("masks", masks * 0))})
    with pytest.raises(UserError, match="expected RGB images"):
        tiny.load_segmentation()


def test_data_show_overlays_masks(tiny, tmp_path, capsys):
    from scratchdl.cli.main import main

    assert main(["data", "show", "tiny-seg", "--n", "3", "--out", str(tmp_path / "g")]) == 0
    assert "3 train images of tiny-seg with masks" in capsys.readouterr().out
    assert (tmp_path / "g.png").stat().st_size > 0 and (tmp_path / "g.pdf").exists()
