"""PGD adversarial training through the engine (classify's [adversarial] table): the batch the
loss sees is the PGD batch, the robust test accuracy is the attack's, bad settings fail early."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import PixelModel, pgd
from scratchdl.explain.attacks import adversarial_accuracy
from scratchdl.recipes import load_recipe
from scratchdl.recipes.check import check_task
from scratchdl.runner import run_recipe
from scratchdl.tasks._restore import load_trained_model
from scratchdl.tasks.vision._adversarial import ADVERSARIAL, Adversary
from tests.conftest import run_cli

PGD = ["adversarial.method=pgd", "adversarial.epsilon=0.1", "adversarial.steps=2"]


def test_adversary_gives_the_pgd_batch_in_the_models_space() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    cfg = {**ADVERSARIAL, "method": "pgd", "epsilon": 0.2, "steps": 3, "rand_start": False}
    mean, std = [0.4], [0.3]
    adversary = Adversary(net, cfg, mean, std)
    pixels = torch.rand(5, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    x = (pixels - 0.4) / 0.3  # the standardised batch the task trains on
    net.train()
    out = adversary(x, y)
    assert net.training  # train mode restored after the attack
    expected = pgd(PixelModel(net, mean, std), pixels, y, 0.2, steps=3)
    torch.testing.assert_close(out * 0.3 + 0.4, expected, rtol=0, atol=1e-12)
    assert ((out * 0.3 + 0.4) - pixels).abs().max() <= 0.2 + 1e-9


@pytest.mark.slow
def test_pgd_training_runs_and_reports_the_attacks_accuracy(tiny_recipe: Path) -> None:
    cfg = load_recipe(str(tiny_recipe), [*PGD, "train.epochs=1", "data.normalize=true"])
    summary = run_recipe(cfg, out=tiny_recipe.parent / "run", quiet=True)
    final = summary["final"]
    assert 0 <= final["test_pgd_accuracy"] < final["test_accuracy"]
    model, _, data = load_trained_model(tiny_recipe.parent / "run")
    px = PixelModel(model, data.info.mean, data.info.std)
    again = adversarial_accuracy(px, px.to_pixels(data.test.x), data.test.y, "pgd", 0.1)
    assert again == pytest.approx(final["test_pgd_accuracy"], abs=1e-12)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("adversarial.method=cw", "adversarial.method: expected one of none, fgsm, pgd"),
        ("adversarial.steps=0", "adversarial.steps: expected an int >= 1"),
        ("adversarial.step_size=-1", "adversarial.step_size: expected a finite number >= 0"),
    ],
)
def test_bad_adversarial_settings_fail_in_preflight(tiny_recipe, setting, message) -> None:
    with pytest.raises(UserError, match=message):
        check_task(load_recipe(str(tiny_recipe), [setting]))


@pytest.mark.slow
def test_negative_epsilon_is_one_line_at_the_cli(tiny_recipe) -> None:
    proc = run_cli("run", str(tiny_recipe), "--set", "adversarial.epsilon=-0.1")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    message = "scratchdl: error: adversarial.epsilon: expected a finite number >= 0"
    assert len(lines) == 1 and lines[0].startswith(message)


@pytest.mark.slow
def test_pgd_training_with_random_starts_resumes_exactly(tiny_recipe: Path, tmp_path: Path) -> None:
    """SIGKILL after epoch 1 of 2, resume: bit-identical to the uninterrupted run (the random
    starts come from the checkpointed torch generator)."""
    import signal

    from tests.test_resume import _rows

    args = [str(tiny_recipe), "--json", "--set", "train.epochs=2", "--set", "data.normalize=true"]
    for s in PGD:
        args += ["--set", s]
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    run_cli("run", *args, "--out", str(full_dir), check=True)
    killed = run_cli("run", *args, "--out", str(cut_dir), env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_cli("run", "--resume", str(cut_dir), "--json", check=True)
    assert _rows(cut_dir) == _rows(full_dir)
    a = torch.load(full_dir / "checkpoint.pt", weights_only=True)["modules"]["model"]
    b = torch.load(cut_dir / "checkpoint.pt", weights_only=True)["modules"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
