"""ablate: grid of variants, base row, change from base, store reuse, bracket-aware parsing."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.store import RunStore
from scratchdl.workbench.ablate import ablate, parse_vary, split_values


def _quiet(_: str) -> None:
    pass


def test_split_values_respects_brackets_and_quotes() -> None:
    assert split_values("[64,32],[16]") == ["[64,32]", "[16]"]
    assert split_values("1e-3, 0.1 ,3") == ["1e-3", "0.1", "3"]
    assert split_values('"a,b",c') == ['"a,b"', "c"]
    assert split_values("[[1,2],[3]],4") == ["[[1,2],[3]]", "4"]
    assert parse_vary("model.hidden=[64,32],[16]") == ("model.hidden", ["[64,32]", "[16]"])
    with pytest.raises(UserError, match="unbalanced"):
        split_values("[64,32]],1")
    with pytest.raises(UserError, match="unclosed"):
        split_values("[64,32")


@pytest.mark.parametrize(
    "item, message",
    [
        ("optimizer.lr", "key=v1,v2"),
        ("=1,2", "key=v1,v2"),
        ("optimizer.lr=", "one or more"),
        ("optimizer.lr=0.1,,0.2", "one or more"),
    ],
)
def test_malformed_vary_items(item: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_vary(item)


def test_bad_input_fails_before_any_training(tiny_recipe: Path, tmp_path: Path) -> None:
    recipe = str(tiny_recipe)
    cases = [
        ([], "grid is empty"),
        (["optimizer.lrr=0.1,0.2"], "unknown key.*optimizer.lr"),
        # the first variants are valid: the bad type in the last must still stop everything
        (["optimizer.lr=0.1,0.2", "model.hidden=[16],abc"], "expected a list"),
        (["optimizer.lr=0.1", "optimizer.lr=0.2"], "given twice"),
        (["train.seed=1,2"], "--seeds"),
    ]
    for vary, message in cases:
        with pytest.raises(UserError, match=message):
            ablate(recipe, vary, epochs=1, out=tmp_path, log=_quiet)
    assert RunStore().runs() == []


@pytest.mark.slow  # 14 tiny trainings: ~10 s on a loaded 2-core machine
def test_grid_base_row_change_and_reuse(tiny_recipe: Path, tmp_path: Path) -> None:
    vary = ["model.hidden=[16],[32,16]", "optimizer.name=adam,sgd"]
    first = ablate(str(tiny_recipe), vary, seeds=2, epochs=1, out=tmp_path / "a", log=_quiet)
    rows = first["rows"]
    assert len(rows) == 1 + 2 * 2  # base + cartesian product
    assert first["trained"] == len(rows) * 2
    assert (
        rows[0]["is_base"] and rows[0]["variant"] == "base (model.hidden=[32], optimizer.name=adam)"
    )
    assert [r["variant"] for r in rows[1:]] == [
        "model.hidden=[16], optimizer.name=adam",
        "model.hidden=[16], optimizer.name=sgd",
        "model.hidden=[32,16], optimizer.name=adam",
        "model.hidden=[32,16], optimizer.name=sgd",
    ]
    assert rows[3]["settings"] == {"model.hidden": [32, 16], "optimizer.name": "adam"}
    # mean, sample std and change from base, by hand from the per-seed values
    base_mean = sum(rows[0]["values"]) / 2
    for r in rows:
        a, b = r["values"]
        assert r["mean"] == pytest.approx((a + b) / 2, abs=1e-12)
        assert r["std"] == pytest.approx(abs(a - b) / 2**0.5, abs=1e-12)
        assert r["change"] == pytest.approx((a + b) / 2 - base_mean, abs=1e-12)
    sgd = rows[2]
    assert f"| {sgd['change']:+.4f} |" in first["table"]
    assert first["chart_kind"] == "bars"
    for suffix in (".md", ".json", ".png", ".pdf"):
        assert (tmp_path / "a" / f"ablate{suffix}").stat().st_size > 0
    saved = json.loads((tmp_path / "a" / "ablate.json").read_text())
    assert saved["metric"] == "test_accuracy" and len(saved["rows"]) == 5

    again = ablate(str(tiny_recipe), vary, seeds=2, epochs=1, out=tmp_path / "b", log=_quiet)
    assert again["trained"] == 0
    assert again["rows"] == rows
    # one more value on an axis trains only the new variants (2 seeds x 2 optimizers)
    more = ["model.hidden=[16],[32,16],[8]", "optimizer.name=adam,sgd"]
    grown = ablate(str(tiny_recipe), more, seeds=2, epochs=1, out=tmp_path / "c", log=_quiet)
    assert grown["trained"] == 4 and len(grown["rows"]) == 7


def test_one_numeric_key_gives_a_line_chart(tiny_recipe: Path, tmp_path: Path) -> None:
    result = ablate(
        str(tiny_recipe),
        ["optimizer.lr=0.001,0.1"],
        epochs=1,
        metric="val_accuracy",
        out=tmp_path,
        log=_quiet,
    )
    assert result["chart_kind"] == "line"
    assert [r["settings"]["optimizer.lr"] for r in result["rows"]] == [0.01, 0.001, 0.1]
    assert result["metric"] == "val_accuracy"
    assert statistics.fmean(result["rows"][1]["values"]) == result["rows"][1]["mean"]
    assert (tmp_path / "ablate.png").stat().st_size > 0
    assert (tmp_path / "ablate.pdf").stat().st_size > 0
    with pytest.raises(UserError, match="no metric 'val_f1'"):
        ablate(str(tiny_recipe), ["optimizer.lr=0.1"], epochs=1, metric="val_f1", log=_quiet)
