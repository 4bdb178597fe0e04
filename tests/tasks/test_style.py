"""Neural style transfer: the three losses against hand computations, the frozen features,
bad images, and the style task on the engine (Adam and L-BFGS lower the loss)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from scratchdl.cli.main import main
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks.vision import _style as st


def test_gram_matches_a_loop_over_channel_pairs():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    want = torch.zeros(2, 3, 3, dtype=torch.float64)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                want[b, i, j] = (x[b, i] * x[b, j]).sum() / (3 * 4 * 5)
    torch.testing.assert_close(st.gram(x), want)


def test_tv_loss_by_hand_and_its_gradient():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])
    # vertical |3-0|, |7-1| -> mean 4.5; horizontal |1-0|, |7-3| -> mean 2.5
    assert st.tv_loss(x).item() == pytest.approx(7.0)
    y = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(st.tv_loss, (y,))


def test_content_and_style_losses_are_zero_at_the_target_and_ignore_its_gradient():
    y = torch.randn(1, 4, 5, 5, requires_grad=True)
    assert st.content_loss(y, y).item() == 0.0
    assert st.style_loss(y, st.gram(y)).item() == 0.0
    y_hat = torch.randn(1, 4, 5, 5, requires_grad=True)
    st.style_loss(y_hat, st.gram(y)).backward()
    assert y.grad is None and y_hat.grad is not None


def test_features_are_frozen_at_the_expected_strides():
    f = st.StyleFeatures([st.STEM, 2, 4, 7, 10])
    f.train()
    assert not f.training and not any(p.requires_grad for p in f.parameters())
    x = torch.rand(1, 3, 64, 96)
    sides = [tuple(o.shape[1:]) for o in f(x)]
    assert sides == [(32, 32, 48), (24, 16, 24), (40, 8, 12), (80, 4, 6), (112, 4, 6)]
    with pytest.raises(UserError, match="blocks 0..15"):
        st.StyleFeatures([16])


def test_bad_images_are_one_line_errors(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read it as an image"):
        st.load_image(tmp_path / "junk.png", 64)
    Image.new("I;16", (64, 64)).save(tmp_path / "deep.png")
    with pytest.raises(UserError, match="mode I;16"):
        st.load_image(tmp_path / "deep.png", 64)
    Image.new("RGB", (20, 40)).save(tmp_path / "small.png")
    with pytest.raises(UserError, match="at least 32x32"):
        st.load_image(tmp_path / "small.png", 64)
    with pytest.raises(UserError, match="no such image file"):
        st.load_image(tmp_path / "absent.jpg", 64)


def test_load_image_keeps_the_aspect_ratio(tmp_path):
    Image.new("L", (200, 100), 128).save(tmp_path / "grey.png")
    x = st.load_image(tmp_path / "grey.png", 64)
    assert x.shape == (1, 3, 32, 64)
    torch.testing.assert_close(x, torch.full_like(x, 128 / 255))


@pytest.fixture
def style_png(tmp_path, monkeypatch):
    import skimage.data

    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "runs"))
    path = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(path)
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_style_task_lowers_the_loss_and_writes_its_figures(style_png, tmp_path, optimizer):
    cfg = load_recipe("style-transfer", ["data.content=chelsea", "data.size=64",
                                         f"style.optimizer={optimizer}",
                                         "style.steps_per_epoch=4", "style.grid=[10.0]",
                                         "style.grid_epochs=1", "train.epochs=2"])
    cfg["data"]["dataset"] = style_png
    out = tmp_path / optimizer
    summary = run_recipe(cfg, out=out, quiet=True)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    main_rows = [r for r in rows if r.get("phase", 0) == 0]
    assert main_rows[-1]["val_loss"] < main_rows[0]["train_loss"]
    assert summary["value"] == pytest.approx(main_rows[-1]["val_style_loss"], rel=1e-5)
    for name in ("stylized.png", "stylized_x10.png", "style_grid.png", "style_grid.pdf",
                 "style_losses.png"):
        assert (out / name).is_file(), name
    img = np.asarray(Image.open(out / "stylized.png"))
    assert img.shape == (40, 64, 3)  # chelsea is 300x451 -> 64 wide, 42.6 -> 40 high (8s)


def test_stylize_rejects_an_unreadable_file_before_any_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "runs"))
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    rc = main(["stylize", str(tmp_path / "x.jpg"), "chelsea", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "cannot read it as an image" in err and "\n" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_starry_night_is_taken_from_a_system_copy_only_with_its_hash(tmp_path, monkeypatch):
    from scratchdl.data import get_dataset
    from scratchdl.data.style_images import DEB_PATH

    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SCRATCHDL_DEBIAN_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    spec = get_dataset("starry-night")
    with pytest.raises(UserError, match="downloads are disabled"):
        spec.fetch()
    with pytest.raises(UserError, match="scratchdl data fetch starry-night"):
        spec.image()
    fake = tmp_path / "root" / DEB_PATH
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"a different picture")
    with pytest.raises(UserError, match="expected accda7a1"):
        spec.fetch()
    assert not spec.is_present()


@pytest.mark.slow
def test_stylize_writes_the_image_and_records_a_run(tmp_path, monkeypatch, capsys):
    import skimage.data

    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "runs"))
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "style.jpg")
    out = tmp_path / "new" / "cat.jpg"
    rc = main(["stylize", "chelsea", str(tmp_path / "style.jpg"), "--out", str(out),
               "--steps", "6", "--size", "64", "--optimizer", "lbfgs"])
    assert rc == 0 and "(6 steps" in capsys.readouterr().out
    assert Image.open(out).size == (64, 40)
