"""The generative task on real MNIST (tiny runs): metrics, figures, `scratchdl sample`, and
one-line errors before a run exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scratchdl.data import get_dataset
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks.generative.generative import draw_samples, load_generator
from tests.conftest import run_cli

needs_mnist = pytest.mark.skipif(
    not get_dataset("mnist").is_present(), reason="run `scratchdl data fetch mnist`"
)
TINY = ["train.epochs=1", "train.limit_batches=4", "data.val_size=200", "eval.iwae_examples=16"]


def _one_line(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "recipe, sets, match",
    [
        ("vae-mnist", ["data.binarize=sometimes"], "data.binarize: expected one of dynamic"),
        ("vae-mnist", ["eval.iwae_k=[0]"], r"eval.iwae_k: expected a list of ints >= 1"),
        ("vae-mnist", ["model.arch=resnet"], "model.arch: expected mlp or conv"),
        ("vae-mnist", ["eval.iwae_k=[1, 50]"], "test_nll_k5000: eval.iwae_k .* has no such k"),
        ("vae-mnist", ["data.binarize=none"], "a likelihood needs a latent-variable model"),
        ("vae-mnist", ["model.name=autoencoder"], "a likelihood needs a latent-variable model"),
        ("cvae-mnist", [], "run `scratchdl run lenet-mnist` first"),
        ("cvae-mnist", ["eval.classifier=/nonexistent"], "is not a run directory"),
    ],
)
def test_bad_config_fails_before_a_run_exists(tmp_path, recipe, sets, match):
    with pytest.raises(UserError, match=match):
        run_recipe(load_recipe(recipe, sets), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


@needs_mnist
@pytest.mark.slow
def test_vae_2d_run_reports_bounds_writes_figures_and_samples(tmp_path):
    cfg = load_recipe(
        "vae-mnist",
        [
            *TINY,
            "model.latent_dim=2",
            "eval.iwae_k=[1, 64]",
            "eval.classifier=none",
            "target.metric=test_nll_k64",
        ],
    )
    s = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    f = s["final"]
    # the k-sample bound is tighter on average; both are nats per image, far below 784 ln 2
    assert 0 < f["test_nll_k64"] < f["test_nll_k1"] + 0.5 < 784 * 0.6932
    assert f["test_loss"] == pytest.approx(f["test_recon"] + f["test_kl"], rel=1e-5)
    assert "test_fd" not in f
    run = Path(s["run_dir"])
    for stem in ("samples", "reconstructions", "interpolations", "latent_map", "loss_curves"):
        assert (run / f"{stem}.png").is_file() and (run / f"{stem}.pdf").is_file(), stem
    model, _ = load_generator(run)
    a = draw_samples(model, 5, seed=1)
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, draw_samples(model, 5, seed=1))
    with pytest.raises(UserError, match="not class-conditional"):
        draw_samples(model, 5, label=3)
    # a config.toml that no longer matches the checkpoint's latent size: one line
    conf = run / "config.toml"
    conf.write_text(conf.read_text().replace("latent_dim = 2", "latent_dim = 8"))
    line = _one_line(run_cli("sample", str(run), "--out", str(tmp_path / "s.png")))
    assert "latent size 2" in line and "model.latent_dim = 8" in line


@needs_mnist
@pytest.mark.slow
def test_cvae_is_judged_by_a_trained_classifier_and_samples_by_label(tmp_path):
    clf = run_recipe(
        load_recipe(
            "lenet-mnist", ["train.epochs=1", "train.limit_batches=20", "data.val_size=200"]
        ),
        out=tmp_path / "lenet",
        quiet=True,
    )
    assert clf["test_accuracy"] > 0.5  # 20 batches of LeNet already beat chance by far
    cfg = load_recipe("cvae-mnist", [*TINY, "eval.fd_samples=300", "eval.iwae_k=[1]"])
    s = run_recipe(cfg, out=tmp_path / "run", quiet=True)  # classifier "auto": the store's
    f = s["final"]
    assert 0 <= f["test_class_accuracy"] <= 1 and f["test_fd"] > f["test_fd_real_train"] > 0
    run = Path(s["run_dir"])
    assert (run / "class_samples.png").is_file()
    ok = run_cli("sample", str(run), "--n", "16", "--label", "7", "--out", str(tmp_path / "7.png"))
    assert ok.returncode == 0 and (tmp_path / "7.png").is_file() and (tmp_path / "7.pdf").is_file()
    assert "--label 10: expected a class in 0..9" in _one_line(
        run_cli("sample", str(run), "--label", "10", "--out", str(tmp_path / "x.png"))
    )
    assert "not a generative one" in _one_line(
        run_cli("sample", clf["run_dir"], "--out", str(tmp_path / "x.png"))
    )


@needs_mnist
@pytest.mark.slow
def test_autoencoder_on_grey_digits(tmp_path):
    cfg = load_recipe(
        "vae-mnist",
        [
            *TINY,
            "model.name=autoencoder",
            "data.binarize=none",
            "target.metric=test_loss",
            "eval.classifier=none",
        ],
    )
    s = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    assert "test_nll_k1" not in s["final"] and s["final"]["test_loss"] > 0
    assert (Path(s["run_dir"]) / "interpolations.png").is_file()
    model, _ = load_generator(s["run_dir"])  # samples come from the codes' tracked statistics
    assert not torch.equal(model.z_var, torch.ones_like(model.z_var))


@needs_mnist
@pytest.mark.slow
def test_cut_then_resumed_run_equals_the_uninterrupted_one(tmp_path):
    """Dynamic binarization and the reparameterization noise draw from the engine's RNG,
    which the checkpoint carries: 1 + 1 epochs give the very same model as 2."""
    sets = [
        *TINY,
        "eval.iwae_k=[1]",
        "target.metric=test_nll_k1",
        "eval.classifier=none",
        "schedule.name=none",
    ]  # the schedule's length would change with train.epochs
    cfg = load_recipe("vae-mnist", sets)
    cfg["train"]["epochs"] = 2
    full = run_recipe(cfg, out=tmp_path / "full", quiet=True)
    cfg["train"]["epochs"] = 1
    run_recipe(cfg, out=tmp_path / "cut", quiet=True)
    cfg["train"]["epochs"] = 2
    resumed = run_recipe(cfg, resume=tmp_path / "cut", quiet=True)
    for key in ("train_loss", "val_loss", "test_nll_k1"):
        assert full["final"][key] == resumed["final"][key], key
