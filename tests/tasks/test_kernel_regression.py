"""Nadaraya-Watson: the estimator by hand, the seeded data, the recipe through the engine."""

import math

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.models.kernel_regression import NadarayaWatson
from scratchdl.plots.attention import attention_heatmap
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks.classic.kernel_regression import make_data, true_function

DATA = {"n_train": 50, "n_val": 50, "noise": 0.5, "x_max": 5.0, "test_step": 0.1}


def test_estimator_by_hand() -> None:
    nw = NadarayaWatson(w=2.0, learn_width=False)
    keys, values = torch.tensor([0.0, 1.0, 3.0]), torch.tensor([1.0, 2.0, 5.0])
    pred = nw(torch.tensor([0.5]), keys, values)
    k = [math.exp(-((0.5 - x) * 2.0) ** 2 / 2) for x in (0.0, 1.0, 3.0)]
    expected = sum(a * v for a, v in zip(k, (1.0, 2.0, 5.0), strict=True)) / sum(k)
    assert pred.item() == pytest.approx(expected, rel=1e-6)
    # leave-one-out mask: a query never attends to its own key
    mask = ~torch.eye(3, dtype=torch.bool)
    nw(keys, keys, values, mask=mask)
    assert torch.all(nw.attention_weights.diagonal() == 0)
    assert "w" not in dict(nw.named_parameters())
    assert "w" in dict(NadarayaWatson(1.0).named_parameters())


def test_data_is_the_books_and_seeded() -> None:
    a, b, c = make_data(DATA, 0), make_data(DATA, 0), make_data(DATA, 1)
    assert torch.equal(a["x_train"], b["x_train"]) and not torch.equal(a["x_train"], c["x_train"])
    assert torch.all(a["x_train"][1:] >= a["x_train"][:-1])
    assert a["x_test"].shape == (50,) and a["x_test"][1].item() == pytest.approx(0.1)
    torch.testing.assert_close(a["y_test"], 2 * torch.sin(a["x_test"]) + a["x_test"] ** 0.8)
    noise = a["y_val"] - true_function(a["x_val"])
    assert 0.3 < noise.std().item() < 0.7


@pytest.mark.slow
def test_recipe_learned_width_beats_fixed(tmp_path) -> None:
    cfg = load_recipe("nadaraya-watson", ["train.epochs=3", "data.steps_per_epoch=10"])
    out = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = out["final"]
    assert final["val_mse"] < final["val_mse_fixed"]
    assert final["test_mse"] < final["test_mse_fixed"]
    assert final["learned_w"] > 1.0  # the fixed width 1 oversmooths this data
    for stem in ("attention_learned", "attention_fixed", "fit"):
        assert (tmp_path / "run" / f"{stem}.png").exists()
        assert (tmp_path / "run" / f"{stem}.pdf").exists()


@pytest.mark.parametrize("setting, match", [
    ("data.noise=-1", "data.noise"),
    ("data.n_train=1", "data.n_train"),
    ("model.w=0", "model.w"),
])
def test_bad_config_is_one_line(tmp_path, setting: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        run_recipe(load_recipe("nadaraya-watson", [setting]), out=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()  # refused before a run is registered


def test_attention_heatmap_writes_png_and_pdf(tmp_path) -> None:
    paths = attention_heatmap(torch.rand(2, 3, 4), ["a", "b", "c", "d"], ["x", "y", "z"],
                              tmp_path / "heads")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    with pytest.raises(UserError, match="weights \\[Q, K\\] or \\[H, Q, K\\]"):
        attention_heatmap(torch.rand(4), None, None, tmp_path / "bad")
