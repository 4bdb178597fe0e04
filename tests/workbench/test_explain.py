"""`scratchdl explain` and `scratchdl robust --attack` on a tiny trained LeNet (digits, 16x16
inside the model): every method writes its PNG and PDF with the values it shows, and bad
input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scratchdl.config import dumps_toml
from scratchdl.errors import UserError
from scratchdl.explain import PixelModel, grad_cam, vanilla_gradient
from scratchdl.explain.attacks import adversarial_accuracy
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks._restore import load_trained_model
from scratchdl.workbench.explain import METHODS, explain
from scratchdl.workbench.robust import robust
from tests.conftest import TINY_RECIPE, run_cli

LENET = ["model.name=lenet", "data.image_size=16", "data.normalize=true", "train.epochs=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    recipe = root / "tiny-digits.toml"
    recipe.write_text(TINY_RECIPE.replace("hidden = [32]\ndropout = 0.2\n", ""))
    run_recipe(load_recipe(str(recipe), LENET), out=root / "lenet", quiet=True)
    return root / "lenet"


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_png_and_pdf(run_dir: Path, tmp_path: Path, method: str) -> None:
    n = 40 if method in ("tsne", "pca") else 4
    result = explain(run_dir, method, n=n, out=tmp_path, eps=0.1)
    assert [Path(p).name for p in result["paths"]] == [f"{method}.png", f"{method}.pdf"]
    assert all(Path(p).stat().st_size > 1000 for p in result["paths"])
    values = result["values"]
    model, _, data = load_trained_model(run_dir)
    px = PixelModel(model, data.info.mean, data.info.std)
    pixels, y = px.to_pixels(data.test.x[:4]), data.test.y[:4]
    if method == "saliency":  # the figure shows the gradient in pixel space
        torch.testing.assert_close(values, vanilla_gradient(px, pixels, y))
    elif method == "gradcam":
        torch.testing.assert_close(values, grad_cam(model, data.test.x[:4], y, "net.3"))
    elif method in ("tsne", "pca"):
        assert values.shape == (40, 2)
    elif method == "classviz":
        assert values.shape == (10, 1, 8, 8)
    elif method == "adversarial":
        assert (values - pixels).abs().max() <= 0.1 + 1e-6


def test_bad_input_is_one_line(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"layer 'conv9' does not exist in this model; conv "):
        explain(run_dir, "gradcam", layer="conv9", out=tmp_path)
    with pytest.raises(UserError, match=r"--eps: expected a finite number >= 0"):
        explain(run_dir, "adversarial", eps=-0.01, out=tmp_path)
    with pytest.raises(UserError, match=r"--method: expected one of saliency, smoothgrad"):
        explain(run_dir, "lime", out=tmp_path)
    with pytest.raises(UserError, match=r"--eps: expected a finite number >= 0"):
        robust([run_dir], attacks=["pgd"], eps=[-0.1], out=tmp_path)
    fake = tmp_path / "lm"
    fake.mkdir()
    (fake / "config.toml").write_text(dumps_toml({"recipe": "lstm-austen", "task": "rnn-lm"}))
    (fake / "meta.json").write_text(json.dumps({"run_id": "lm", "recipe": "lstm-austen"}))
    with pytest.raises(UserError, match=r"is a 'rnn-lm' run, not an image classifier"):
        explain(fake, "saliency", out=tmp_path)


@pytest.mark.slow
def test_cli_explain_layer_error_lists_the_layers(run_dir: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "explain", str(run_dir), "--method", "gradcam", "--layer", "x", "--out", str(tmp_path)
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "scratchdl: error: layer 'x' does not exist in this model; conv layers: net.0, net.3"
    ]


@pytest.mark.slow
def test_robust_attacks_join_the_corruption_table(run_dir: Path, tmp_path: Path) -> None:
    result = robust(
        [run_dir],
        corruptions=["contrast"],
        severities=[5],
        attacks=["fgsm", "pgd"],
        eps=[0, 0.05, 0.2],
        out=tmp_path,
    )
    row = result["rows"][0]
    model, _, data = load_trained_model(run_dir)
    px = PixelModel(model, data.info.mean, data.info.std)
    pixels = px.to_pixels(data.test.x)
    for name in ("fgsm", "pgd"):
        accs = row["attack_accuracy"][name]
        assert list(accs) == ["0.05", "0.2"]  # 0 is the clean column
        hand = adversarial_accuracy(px, pixels, data.test.y, name, 0.2)
        assert accs["0.2"] == pytest.approx(hand, abs=1e-12)
        assert accs["0.2"] <= accs["0.05"] <= row["clean_accuracy"]
    assert row["attack_accuracy"]["pgd"]["0.2"] <= row["attack_accuracy"]["fgsm"]["0.2"]
    assert "| run | clean | Contrast | mean corr. | FGSM | PGD-20 |" in result["table"]
    assert "| run | attack | ε 0.05 | ε 0.2 |" in result["table"]
    names = sorted(Path(p).name for p in result["charts"])
    assert names == ["radar.pdf", "radar.png", "severity.pdf", "severity.png"]
