"""`scratchdl study batch-size`: configs, table and reuse, on the tiny digits recipe."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.workbench.batch_study import batch_size_study, parse_batches, study_configs
from tests.conftest import run_cli


def test_scaled_setting_multiplies_the_lr_and_adds_warm_up(tiny_recipe: Path) -> None:
    # tiny recipe: batch 64, lr 0.01, warm-up 0.5 epochs
    cfgs = study_configs(str(tiny_recipe), 256, 2, 2.0, [])
    fixed, scaled = cfgs["fixed lr"], cfgs["linear scaling + warm-up"]
    assert [c["train"]["seed"] for c in fixed] == [0, 1]
    assert fixed[0]["data"]["batch_size"] == scaled[0]["data"]["batch_size"] == 256
    assert fixed[0]["optimizer"]["lr"] == 0.01 and fixed[0]["schedule"]["warmup_epochs"] == 0.5
    assert scaled[0]["optimizer"]["lr"] == pytest.approx(0.01 * 256 / 64)
    assert scaled[0]["schedule"]["warmup_epochs"] == 2.0
    # a smaller batch scales the lr down; the recipe's longer warm-up is kept
    small = study_configs(str(tiny_recipe), 16, 1, 0.25, [])["linear scaling + warm-up"][0]
    assert small["optimizer"]["lr"] == pytest.approx(0.0025)
    assert small["schedule"]["warmup_epochs"] == 0.5


@pytest.mark.parametrize("text", ["", "64,x", "0,64", "64,64"])
def test_bad_batch_lists_are_one_line_errors(text: str) -> None:
    with pytest.raises(UserError, match="--batches expects"):
        parse_batches(text)


@pytest.mark.slow
def test_study_trains_each_setting_once_and_the_table_holds_its_runs(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    out = tmp_path / "study"
    result = batch_size_study(
        str(tiny_recipe), [32, 128], seeds=2, epochs=1, out=out, log=lambda _: None
    )
    assert result["trained"] == 8  # 2 batches x 2 settings x 2 seeds
    rows = result["rows"]
    assert [(r["batch_size"], r["setting"]) for r in rows] == [
        (32, "fixed lr"), (32, "linear scaling + warm-up"),
        (128, "fixed lr"), (128, "linear scaling + warm-up"),
    ]  # fmt: skip
    for r in rows:  # mean and sample std of the two seeds' test accuracies, by hand
        a, b = r["values"]
        assert r["mean"] == pytest.approx((a + b) / 2)
        assert r["std"] == pytest.approx(abs(a - b) / 2**0.5)
        assert r["std"] == pytest.approx(statistics.stdev([a, b]))
    stored = json.loads((out / "batch_study.json").read_text())
    assert stored["rows"] == rows
    assert (out / "batch_study.png").exists() and (out / "batch_study.pdf").exists()
    assert "| 128 | linear scaling + warm-up | 0.02 | 2 | 2 |" in result["table"]
    again = run_cli("study", "batch-size", str(tiny_recipe), "--batches", "32,128", "--seeds",
                    "2", "--epochs", "1", "--out", str(tmp_path / "again"), check=True)  # fmt: skip
    assert "trained 0 new run(s)" in again.stdout  # every run reused from the store
