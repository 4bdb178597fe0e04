"""VQ-VAE, DCGAN, PixelCNN and DDPM recipes as tiny real-data runs on the engine: the GAN's
two optimizers resumed exactly after a SIGKILL, each run's metrics and figures,
`scratchdl sample` on every one, one-line errors before a run exists."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch

from scratchdl.data import get_dataset
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks.generative.generative import draw_samples, load_generator
from scratchdl.workbench.sampler_study import sampler_study
from tests.conftest import run_cli

needs = {
    name: pytest.mark.skipif(
        not get_dataset(name).is_present(), reason=f"run `scratchdl data fetch {name}`"
    )
    for name in ("mnist", "fashion-mnist")
}
TINY = [
    "train.epochs=1",
    "train.limit_batches=3",
    "data.val_size=200",
    "eval.classifier=none",
    "target.metric=test_loss",
]
SMALL = {
    "dcgan-fmnist": ["model.width=8", "model.latent_dim=8"],
    "vqvae-fmnist": ["model.hidden=8", "model.num_codes=16", "model.dim=4"],
    "pixelcnn-mnist": ["model.channels=8", "model.layers=1"],
    "ddpm-mnist": ["model.steps=10", "model.channels=8", "eval.ddim_steps=[5]"],
}


@pytest.mark.parametrize(
    "recipe, sets, match",
    [
        ("dcgan-fmnist", ["model.name=vae"], "the gan task trains a generator against"),
        ("dcgan-fmnist", ["data.binarize=dynamic"], "a GAN learns grey images"),
        ("ddpm-mnist", ["eval.ddim_steps=[2000]"], r"eval.ddim_steps: expected a list of ints"),
        ("ddpm-mnist", ["data.binarize=fixed"], "diffusion learns grey images"),
        ("dcgan-fmnist", [], "run `scratchdl run lenet-fmnist` first"),
    ],
)
def test_bad_config_fails_before_a_run_exists(tmp_path, recipe, sets, match, monkeypatch):
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "store"))  # an empty store
    with pytest.raises(UserError, match=match):
        run_recipe(load_recipe(recipe, sets), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def _rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timing = ("epoch_seconds", "examples_per_s")
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


@needs["fashion-mnist"]
@pytest.mark.slow
def test_gan_killed_and_resumed_equals_uninterrupted(tmp_path):
    sets = [*TINY, *SMALL["dcgan-fmnist"], "train.epochs=2", "eval.fd_samples=0"]
    args = [a for s in sets for a in ("--set", s)]
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_cli("run", "dcgan-fmnist", *args, "--out", str(full), check=True)
    killed = run_cli(
        "run", "dcgan-fmnist", *args, "--out", str(cut), env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_rows(cut)) == 1
    run_cli("run", "--resume", str(cut), check=True)
    assert _rows(cut) == _rows(full)
    a = torch.load(full / "checkpoint.pt", weights_only=True)
    b = torch.load(cut / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(v, b["modules"]["model"][k]) for k, v in a["modules"]["model"].items())
    for name in ("disc", "gen"):  # both optimizers, each stepped once per batch
        sa, sb = a["optimizers"][name]["state"], b["optimizers"][name]["state"]
        assert sa.keys() == sb.keys() and all(float(s["step"]) == 6 for s in sa.values())
        for i in sa:
            assert torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"])
            assert torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])
    # the alternating steps moved both players away from their N(0, 0.02) start
    m = load_generator(full)[0]
    assert len(a["optimizers"]["disc"]["state"]) == len(list(m.discriminator.parameters()))
    assert len(a["optimizers"]["gen"]["state"]) == len(list(m.generator.parameters()))
    row = _rows(full)[-1]
    assert row["train_loss"] == pytest.approx(row["train_d_loss"] + row["train_g_loss"])
    assert 0 < row["train_d_fake"] < 1 and "lr_disc" in row and "lr_gen" in row


def _run(recipe: str, tmp_path: Path, extra=()) -> tuple[dict, Path]:
    cfg = load_recipe(recipe, [*TINY, *SMALL[recipe], *extra])
    s = run_recipe(cfg, out=tmp_path / recipe, quiet=True)
    run = Path(s["run_dir"])
    model, _ = load_generator(run)  # what `scratchdl sample` uses
    stems = ("samples", "loss_curves") if getattr(model, "has_prior", True) else ("loss_curves",)
    for stem in stems:
        assert (run / f"{stem}.png").is_file() and (run / f"{stem}.pdf").is_file(), stem
    if stems == ("loss_curves",):
        return s["final"], run
    a = draw_samples(model, 3, seed=1)
    assert a.shape == (3, 1, 28, 28) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, draw_samples(model, 3, seed=1))
    return s["final"], run


@needs["fashion-mnist"]
@pytest.mark.slow
def test_vqvae_run_reports_codebook_usage(tmp_path):
    f, run = _run("vqvae-fmnist", tmp_path, ["model.ema=true"])
    assert 0 < f["test_usage"] <= 1 and 1 <= f["test_perplexity"] <= 16
    assert f["test_loss"] == pytest.approx(f["test_recon_mse"] + f["test_vq"], rel=1e-5)
    assert (run / "reconstructions.png").is_file()
    assert not (run / "samples.png").is_file()  # no learned prior: no grid of texture
    model, _ = load_generator(run)
    with pytest.raises(UserError, match="no learned prior"):
        draw_samples(model, 4)


@needs["mnist"]
@pytest.mark.slow
def test_pixelcnn_run_reports_nll_in_nats_and_bits(tmp_path):
    f, run = _run("pixelcnn-mnist", tmp_path)
    assert f["test_nll"] == f["test_loss"] and 0 < f["test_nll"] < 784 * math.log(2) * 1.2
    assert f["test_bits_per_dim"] == pytest.approx(f["test_nll"] / (784 * math.log(2)), rel=1e-5)
    model, _ = load_generator(run)
    assert set(draw_samples(model, 2).unique().tolist()) <= {0.0, 1.0}  # binary pixels


@needs["mnist"]
@pytest.mark.slow
def test_ddpm_run_scores_each_sampler_with_a_classifier(tmp_path):
    clf = run_recipe(
        load_recipe("lenet-mnist", ["train.epochs=1", "train.limit_batches=5", "data.val_size=9"]),
        out=tmp_path / "lenet",
        quiet=True,
    )
    extra = [f"eval.classifier={clf['run_dir']}", "eval.fd_samples=100", "target.metric=test_fd"]
    f, run = _run("ddpm-mnist", tmp_path, extra)
    assert f["test_fd"] > 0 and f["test_fd_ddim5"] > 0 and 0 <= f["test_class_accuracy"] <= 1
    assert f["test_fd_ddim5_ratio"] == pytest.approx(f["test_fd_ddim5"] / f["test_fd"])
    assert (run / "class_samples.png").is_file()
    model, _ = load_generator(run)
    assert model.sampler == "ddpm" and model.sample_steps == 10  # restored after the DDIM pass
    ok = run_cli("sample", str(run), "--n", "4", "--label", "3", "--out", str(tmp_path / "s.png"))
    assert ok.returncode == 0 and (tmp_path / "s.pdf").is_file()

    # study samplers: the row of the run's own DDIM setting (the recipe's eta 1, quadratic)
    # reproduces its test_fd_ddim5 exactly (same model, noise seed, images, and the same
    # fresh noise at every step); the choice per K is the lowest val FD
    study = sampler_study(run, [5, 10], [0.0, 1.0], ["uniform", "quadratic"], log=lambda s: None)
    rows = study["rows"]
    assert len(rows) == 8 and study["ddpm_test_fd"] == pytest.approx(f["test_fd"], rel=1e-12)
    assert (model.eta, model.spacing) == (1.0, "quadratic")
    own = next(r for r in rows if (r["steps"], r["eta"], r["spacing"]) == (5, 1.0, "quadratic"))
    assert own["test_fd"] == pytest.approx(f["test_fd_ddim5"], rel=1e-9)
    assert own["n"] == 100
    # K = steps with uniform spacing and eta = 1 is the ancestral DDPM sampler, step for step
    ddpm = next(r for r in rows if (r["steps"], r["eta"], r["spacing"]) == (10, 1.0, "uniform"))
    assert ddpm["test_fd"] == pytest.approx(f["test_fd"], rel=1e-4)
    assert ddpm["class_accuracy"] == f["test_class_accuracy"]
    for k in (5, 10):
        mine = [r for r in rows if r["steps"] == k]
        chosen = [r for r in mine if r.get("chosen")]
        assert chosen == [min(mine, key=lambda r: r["val_fd"])]
        assert all(r["test_ratio"] == pytest.approx(r["test_fd"] / f["test_fd"]) for r in mine)
    assert (Path(study["out"]) / "sampler_study.md").read_text() == study["table"]
    assert study["table"].count("**") == 4  # one bold val FD per K
    for args, match in [
        (["--spacing", "cubic"], "--spacing 'cubic': expected one of uniform, quadratic"),
        (["--steps", "11"], "--steps: expected step counts in 1..10"),
        (["--eta", "x"], "--eta: expected comma-separated numbers"),
    ]:
        bad = run_cli("study", "samplers", str(run), *args)
        assert bad.returncode != 0 and match in bad.stderr and "Traceback" not in bad.stderr


@needs["fashion-mnist"]
@pytest.mark.slow
def test_dcgan_run_samples(tmp_path):
    f, _ = _run("dcgan-fmnist", tmp_path)
    assert f["test_loss"] == pytest.approx(f["test_d_loss"] + f["test_g_loss"], rel=1e-5)
