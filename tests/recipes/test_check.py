"""Bad input is caught before a run is registered: one line, exit 2, no row, no folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.recipes import list_recipes, load_recipe
from scratchdl.recipes.check import preflight
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore
from tests.conftest import TINY_RECIPE, run_cli


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _recipe_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TINY_RECIPE
    path = tmp_path / "bad.toml"
    path.write_text(TINY_RECIPE.replace(old, new))
    return path


@pytest.mark.parametrize(
    "old, new, key, expected",
    [
        ("hidden = [32]", 'hidden = "lots"', "model.hidden", "must be a list"),
        ("epochs = 4", 'epochs = "ten"', "train.epochs", "must be an int"),
        ("dropout = 0.2", 'dropout = "0.2"', "model.dropout", "must be a float"),
        ('"cosine"', "true", "schedule.name", "must be a string"),
    ],
)
def test_recipe_of_wrong_type_names_key_type_and_file(
    tmp_path: Path, old: str, new: str, key: str, expected: str
) -> None:
    path = _recipe_with(tmp_path, old, new)
    with pytest.raises(UserError) as e:
        load_recipe(str(path))
    msg = str(e.value)
    assert "\n" not in msg and key in msg and expected in msg and str(path) in msg


def test_int_where_float_expected_is_accepted_as_float(tmp_path: Path) -> None:
    cfg = load_recipe(str(_recipe_with(tmp_path, "lr = 0.01", "lr = 1")))
    assert cfg["optimizer"]["lr"] == 1.0 and isinstance(cfg["optimizer"]["lr"], float)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.dropout=1.5", "model.dropout = 1.5 must be in [0, 1)"),
        ("model.dropout=-0.1", "must be in [0, 1)"),
        ("optimizer.lr=0", "optimizer.lr = 0.0 must be > 0"),
        ("data.batch_size=0", "data.batch_size = 0 must be >= 1"),
        ("train.epochs=0", "train.epochs = 0 must be >= 1"),
        ("data.val_size=-5", "data.val_size = -5 must be >= 0"),
        ("train.grad_clip=-1", "train.grad_clip = -1.0 must be >= 0"),
        ("model.hidden=[32, -4]", "model.hidden = [32, -4] must be a list of numbers >= 0"),
    ],
)
def test_out_of_range_set_is_one_line(tiny_recipe: Path, override: str, expected: str) -> None:
    with pytest.raises(UserError) as e:
        load_recipe(str(tiny_recipe), [override])
    assert str(e.value).startswith("--set: ") and expected in str(e.value)


def test_dropout_range_is_generic_over_model_options() -> None:
    # rnn-lm's model options come from its task, not the model registry
    with pytest.raises(UserError, match=r"model.dropout = 1.0 must be in \[0, 1\)"):
        load_recipe("lstm-austen", ["model.dropout=1.0"])


def test_every_shipped_recipe_passes_validation() -> None:
    from scratchdl.recipes.check import validate

    names = list_recipes()
    assert len(names) >= 40 and "tinyssd-bananas" in names  # the loop below is not vacuous
    for name in names:
        validate(load_recipe(name))  # raises UserError on the first bad recipe


def _assert_nothing_registered(run_dir: Path) -> None:
    assert RunStore().runs() == []
    assert not run_dir.exists()


def test_cli_set_dropout_registers_nothing(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    msg = _one_line_error(
        run_cli("run", str(tiny_recipe), "--out", str(run_dir), "--set", "model.dropout=1.5")
    )
    assert "model.dropout = 1.5 must be in [0, 1)" in msg
    _assert_nothing_registered(run_dir)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optimizer.name=adamm", "optimizer.name = 'adamm': expected one of sgd"),
        ("schedule.name=cosin", "schedule.name = 'cosin': expected one of none"),
        (
            "data.batch_size=5000",
            "data.batch_size = 5000 is larger than the training set "
            "(1437 images - 200 held out by data.val_size = 1237)",
        ),
    ],
)
def test_invalid_settings_fail_before_the_run_is_registered(
    tiny_recipe: Path, tmp_path: Path, override: str, expected: str
) -> None:
    cfg = load_recipe(str(tiny_recipe), [override])
    with pytest.raises(UserError, match=re.escape(expected)):
        run_recipe(cfg, out=tmp_path / "r", quiet=True)
    _assert_nothing_registered(tmp_path / "r")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_fails_before_registering(tiny_recipe: Path, tmp_path: Path) -> None:
    cfg = load_recipe(str(tiny_recipe), ["train.device=cuda"])
    with pytest.raises(UserError, match="no CUDA GPU"):
        run_recipe(cfg, out=tmp_path / "r", quiet=True)
    _assert_nothing_registered(tmp_path / "r")


def test_out_that_is_a_file(tiny_recipe: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    msg = _one_line_error(run_cli("run", str(tiny_recipe), "--out", str(target)))
    assert "is a file, not a folder" in msg
    assert RunStore().runs() == []


def test_out_in_unwritable_folder(
    tiny_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # root ignores permission bits, so stand in for a folder this user cannot write
    monkeypatch.setattr(os, "access", lambda p, m: real_access(p, m) and Path(p) != locked)
    with pytest.raises(UserError, match=f"cannot write in {locked}"):
        run_recipe(load_recipe(str(tiny_recipe)), out=locked / "r", quiet=True)
    _assert_nothing_registered(locked / "r")


def test_resume_without_checkpoint_refuses_and_says_how_to_restart(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text('recipe = "tiny-digits"\n')
    (run_dir / "meta.json").write_text('{"run_id": "x", "recipe": "tiny-digits"}')
    with pytest.raises(UserError) as e:
        preflight(load_recipe(str(tiny_recipe)), resume=run_dir)
    assert "no checkpoint.pt" in str(e.value)
    assert "scratchdl run tiny-digits --out NEW_DIR" in str(e.value)
    assert RunStore().runs() == []


def test_resume_with_a_recipe_name_is_refused(tmp_path: Path) -> None:
    msg = _one_line_error(run_cli("run", "mlp-fmnist", "--resume", str(tmp_path)))
    assert "drop mlp-fmnist" in msg


def test_a_model_refusing_its_options_leaves_no_run_behind(tmp_path: Path) -> None:
    """Options only the model's builder checks (here the MLP's activation) fail while the task
    sets up, after registration: the run's row and the folder it created are taken back."""
    bad = _recipe_with(tmp_path, "dropout = 0.2", 'dropout = 0.2\nactivation = "swish"')
    out = tmp_path / "fresh" / "run"
    line = _one_line_error(run_cli("run", str(bad), "--out", str(out)))
    assert "unknown activation 'swish'" in line and "relu" in line
    assert not out.exists() and RunStore().runs() == []
    # a folder the user already had keeps its files; only what registration wrote goes
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _one_line_error(run_cli("run", str(bad), "--out", str(mine)))
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert RunStore().runs() == []
    # the same failure on --resume is a real run's failure: the folder stays, the completed
    # run's row is untouched and the resume's own row (a child of it) records the failure
    ok = tmp_path / "ok"
    run_cli(
        "run", str(_recipe_with(tmp_path, "epochs = 4", "epochs = 1")), "--out", str(ok), check=True
    )
    (ok / "config.toml").write_text(
        (ok / "config.toml").read_text().replace('activation = "relu"', 'activation = "swish"')
    )
    _one_line_error(run_cli("run", "--resume", str(ok)))
    assert (ok / "checkpoint.pt").is_file()
    rows = {r["status"]: r for r in RunStore().runs()}
    assert sorted(rows) == ["completed", "failed"]
    assert rows["failed"]["parent_id"] == rows["completed"]["id"]
    assert "swish" in rows["failed"]["failure"]
