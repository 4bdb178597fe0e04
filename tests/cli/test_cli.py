"""CLI contract: list, run --json, report, and one-line errors (exit 2) on bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, expect",
    [
        (["run", "lenet-fmnst"], "did you mean lenet-fmnist"),
        (["run", "mlp-fmnist", "--set", "optimizer.lrr=1"], "did you mean optimizer.lr"),
        (["run", "mlp-fmnist", "--set", "train.epochs=ten"], "expected a int"),
        (["run", "mlp-fmnist", "--set", "model.name=resnet999"], "unknown model"),
        (["run", "mlp-fmnist", "--epochs", "0"], "--epochs must be >= 1"),
        (["run", "mlp-fmnist", "--epochs", "x"], "invalid int value"),
        (["run"], "needs a RECIPE"),
        (["data", "fetch", "cifar"], "unknown dataset"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], expect: str) -> None:
    assert expect in _one_line_error(run_cli(*args))


def test_resume_of_non_run_dir(tmp_path: Path) -> None:
    assert "not a scratchdl run directory" in _one_line_error(
        run_cli("run", "--resume", str(tmp_path))
    )


def test_resume_refuses_malicious_checkpoint(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_cli("run", str(tiny_recipe), "--out", str(run_dir), "--epochs", "1", "--quiet", check=True)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Evil()}, run_dir / "checkpoint.pt")
    msg = _one_line_error(run_cli("run", "--resume", str(run_dir)))
    assert "refusing to load" in msg and not marker.exists()


def test_out_dir_holding_a_run_is_not_overwritten(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_cli("run", str(tiny_recipe), "--out", str(run_dir), "--epochs", "1", "--quiet", check=True)
    assert "already holds a run" in _one_line_error(
        run_cli("run", str(tiny_recipe), "--out", str(run_dir))
    )


def test_run_json_report_and_list(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    proc = run_cli(
        "run",
        str(tiny_recipe),
        "--out",
        str(run_dir),
        "--epochs",
        "2",
        "--seed",
        "5",
        "--set",
        "optimizer.lr=0.005",
        "--json",
        check=True,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("run_id", "recipe", "epochs", "metric", "examples_per_s", "run_dir"):
        assert key in summary
    assert summary["recipe"] == "tiny-digits" and summary["epochs"] == 2
    assert summary["metric"] == "test_accuracy" and 0.5 < summary["test_accuracy"] <= 1.0
    assert summary["examples_per_s"] > 0
    for name in ("config.toml", "metrics.jsonl", "checkpoint.pt", "curves.png", "meta.json"):
        assert (run_dir / name).is_file(), name
    config = (run_dir / "config.toml").read_text()
    assert "seed = 5" in config and "lr = 0.005" in config
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2

    report = run_cli("report", check=True).stdout
    assert summary["run_id"] in report and "completed" in report
    listing = run_cli("list", check=True).stdout
    assert "lenet-fmnist" in listing and "0.789" in listing


def test_missing_data_names_fetch_command(tmp_path: Path) -> None:
    env = {
        "SCRATCHDL_DATA": str(tmp_path / "cache"),
        "SCRATCHDL_FMNIST_SYSTEM_DIR": str(tmp_path / "none"),
        "SCRATCHDL_OFFLINE": "1",
    }
    msg = _one_line_error(run_cli("run", "mlp-fmnist", "--epochs", "1", env=env))
    assert "scratchdl data fetch fashion-mnist" in msg


def test_config_toml_of_a_run_reruns_the_same_recipe(tiny_recipe: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    run_cli("run", str(tiny_recipe), "--out", str(first), "--epochs", "1", "--quiet", check=True)
    proc = run_cli(
        "run", str(first / "config.toml"), "--out", str(tmp_path / "again"), "--json", check=True
    )
    again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert again["recipe"] == "tiny-digits" and again["epochs"] == 1


def test_diverging_run_fails_cleanly_and_is_marked_failed(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "r"
    proc = run_cli(
        "run",
        str(tiny_recipe),
        "--out",
        str(run_dir),
        "--set",
        "optimizer.lr=1e30",
        "--set",
        "optimizer.name=sgd",
    )
    assert "lower optimizer.lr" in _one_line_error(proc)
    run_id = json.loads((run_dir / "meta.json").read_text())["run_id"]
    assert "failed" in run_cli("report", check=True).stdout
    from scratchdl.store import RunStore

    assert RunStore().get_run(run_id)["status"] == "failed"


def test_grad_clip_changes_the_trajectory(tiny_recipe: Path, tmp_path: Path) -> None:
    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe

    base = load_recipe(str(tiny_recipe), ["train.epochs=1", "optimizer.lr=0.05"])
    clipped = load_recipe(
        str(tiny_recipe), ["train.epochs=1", "optimizer.lr=0.05", "train.grad_clip=0.01"]
    )
    a = run_recipe(base, out=tmp_path / "a", quiet=True)["final"]["train_loss"]
    b = run_recipe(clipped, out=tmp_path / "b", quiet=True)["final"]["train_loss"]
    again = run_recipe(base, out=tmp_path / "c", quiet=True)["final"]["train_loss"]
    assert a == again  # same seed, same result
    assert b > a  # tiny steps: clipping to norm 0.01 slows the first epoch down


def test_trained_model_reloads_with_its_test_accuracy(tiny_recipe: Path, tmp_path: Path) -> None:
    import torch

    from scratchdl.tasks._restore import load_trained_model

    run_dir = tmp_path / "r"
    proc = run_cli(
        "run", str(tiny_recipe), "--out", str(run_dir), "--epochs", "2", "--json", check=True
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    model, cfg, splits = load_trained_model(run_dir)
    with torch.no_grad():
        acc = (model(splits.test.x).argmax(1) == splits.test.y).double().mean().item()
    assert acc == pytest.approx(summary["test_accuracy"], abs=1e-12)
    assert cfg["recipe"] == "tiny-digits"


def test_augmentation_from_recipe_is_seeded_and_checked(tiny_recipe: Path, tmp_path: Path) -> None:
    from scratchdl.errors import UserError
    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe

    sets = ["train.epochs=1", "augment.hflip=0.5", "augment.brightness=0.3", "augment.cutout=2"]
    aug = load_recipe(str(tiny_recipe), sets)
    plain = load_recipe(str(tiny_recipe), ["train.epochs=1"])
    a = run_recipe(aug, out=tmp_path / "a", quiet=True)["final"]["train_loss"]
    b = run_recipe(aug, out=tmp_path / "b", quiet=True)["final"]["train_loss"]
    c = run_recipe(plain, out=tmp_path / "c", quiet=True)["final"]["train_loss"]
    assert a == b and a != c
    grey = load_recipe(str(tiny_recipe), ["train.epochs=1", "augment.hue=0.1"])
    with pytest.raises(UserError, match="need colour images"):
        run_recipe(grey, out=tmp_path / "d", quiet=True)
