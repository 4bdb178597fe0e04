"""search: space parsing, grid/random/halving trial sets, validation-only selection, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.store import RunStore
from scratchdl.workbench.search import halving_rungs, parse_space, search

LR = "optimizer.lr=loguniform(1e-3,3e-1)"


def _quiet(_: str) -> None:
    pass


def test_parse_space_kinds() -> None:
    d = parse_space(LR)
    assert (d.key, d.kind, d.low, d.high) == ("optimizer.lr", "loguniform", 1e-3, 0.3)
    assert parse_space("model.dropout=uniform(0, 0.5)").kind == "uniform"
    d = parse_space("train.epochs=int(1,3)")
    assert (d.kind, d.low, d.high) == ("int", 1, 3)
    assert parse_space("model.hidden=choice([64,32],[16])").choices == ("[64,32]", "[16]")
    # bare values are a choice too; one bracketed list is one value
    assert parse_space("model.hidden=[64,32],[16]").choices == ("[64,32]", "[16]")
    assert parse_space("model.hidden=[64,32]").choices == ("[64,32]",)


def test_grid_points() -> None:
    lr = [float(v) for v in parse_space("optimizer.lr=loguniform(1e-3,1e-1)").grid(3)]
    assert lr == pytest.approx([1e-3, 1e-2, 1e-1], rel=1e-12)
    assert parse_space("model.dropout=uniform(0,0.5)").grid(3) == ["0.0", "0.25", "0.5"]
    assert parse_space("train.epochs=int(1,3)").grid(5) == ["1", "2", "3"]  # no repeats


@pytest.mark.parametrize(
    "item, message",
    [
        ("optimizer.lr", "expected key="),
        ("optimizer.lr=", "expected key="),
        ("optimizer.lr=normal(0,1)", "unknown distribution 'normal'"),
        ("optimizer.lr=loguniform(0,1)", "0 < low < high"),
        ("optimizer.lr=uniform(0.5,0.1)", "low < high"),
        ("optimizer.lr=uniform(0.1)", "two bounds"),
        ("train.epochs=int(1,2.5)", "must be integers"),
        ("model.hidden=choice([16],)", "empty value"),
        ("model.hidden=choice([16)", "unclosed"),
    ],
)
def test_malformed_space(item: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_space(item)


def test_halving_rungs() -> None:
    assert halving_rungs(9, 9, 3, 1) == [(9, 1), (3, 3), (1, 9)]
    assert halving_rungs(8, 4, 3, 1) == [(8, 1), (2, 3), (1, 4)]  # last rung capped at full
    assert halving_rungs(5, 2, 2, 1) == [(5, 1), (2, 2)]
    assert halving_rungs(5, 2, 3, 3) == [(5, 2)]  # min_epochs >= full: one rung


def test_bad_input_fails_before_any_training(tiny_recipe: Path, tmp_path: Path) -> None:
    recipe = str(tiny_recipe)
    cases = [
        ({"space": ["optimizer.lrr=uniform(0.1,0.2)"]}, "unknown key"),
        ({"space": [LR, "model.hidden=[16],abc"]}, "expected a list"),
        ({"space": ["train.epochs=int(1,2)"], "method": "halving"}, "halving sets the epochs"),
        ({"space": []}, "space is empty"),
        ({"space": [LR], "method": "bayes"}, "--method"),
        ({"space": [LR], "eta": 1}, "--eta >= 2"),
        ({"space": [LR, LR]}, "given twice"),
    ]
    for kwargs, message in cases:
        with pytest.raises(UserError, match=message):
            search(recipe, epochs=1, out=tmp_path, log=_quiet, **kwargs)
    assert RunStore().runs() == []


def test_refuses_to_select_on_a_test_metric(tiny_recipe: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="never a test metric"):
        search(str(tiny_recipe), [LR], metric="test_accuracy", out=tmp_path, log=_quiet)
    assert RunStore().runs() == []


def test_random_search_selects_on_validation_and_reuses_runs(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    space = [LR, "model.hidden=[16],[32,16]"]
    first = search(
        str(tiny_recipe), space, trials=4, epochs=1, seed=7, out=tmp_path / "a", log=_quiet
    )
    rows = first["rows"]
    assert first["trained"] == 4 and len(rows) == 4
    assert first["metric"] == "val_accuracy"
    # every row's value is the run's validation accuracy, and the best is its argmax
    store = RunStore()
    for r in rows:
        final = store.get_run(r["run_id"])["summary"]["final"]
        assert r["value"] == final["val_accuracy"]
        assert store.get_run(r["run_id"])["config"]["train"]["seed"] == 3  # the recipe's seed
    top = max(rows, key=lambda r: r["value"])
    assert first["best"]["value"] == top["value"] and first["best"]["run_id"] == top["run_id"]
    assert first["best"]["overrides"] == [f"{k}={v}" for k, v in top["params"].items()]
    for suffix in (".md", ".json", ".png", ".pdf"):
        assert (tmp_path / "a" / f"search{suffix}").stat().st_size > 0
    assert json.loads((tmp_path / "a" / "search.json").read_text())["best"] == first["best"]

    again = search(
        str(tiny_recipe), space, trials=4, epochs=1, seed=7, out=tmp_path / "b", log=_quiet
    )
    assert again["trained"] == 0
    assert again["best"] == first["best"]
    assert [r["params"] for r in again["rows"]] == [r["params"] for r in rows]


def test_interrupted_search_resumes_without_repeating(tiny_recipe: Path, tmp_path: Path) -> None:
    lines: list[str] = []

    def stop_after_three(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            raise KeyboardInterrupt

    space = [LR]
    with pytest.raises(KeyboardInterrupt):
        search(str(tiny_recipe), space, trials=5, epochs=1, out=tmp_path, log=stop_after_three)
    assert len(RunStore().runs(status="completed")) == 3
    resumed = search(str(tiny_recipe), space, trials=5, epochs=1, out=tmp_path, log=_quiet)
    assert resumed["trained"] == 2
    assert sum(not r["trained"] for r in resumed["rows"]) == 3


def test_halving_rungs_are_separate_stored_runs(tiny_recipe: Path, tmp_path: Path) -> None:
    space = [LR, "model.hidden=[16],[32]"]
    kwargs = {"method": "halving", "trials": 5, "eta": 2, "epochs": 2, "seed": 1, "log": _quiet}
    result = search(str(tiny_recipe), space, out=tmp_path / "a", **kwargs)
    assert result["rungs"] == [(5, 1), (2, 2)]
    first_rung = [r for r in result["rows"] if r["rung"] == 0]
    second_rung = [r for r in result["rows"] if r["rung"] == 1]
    assert [r["epochs"] for r in first_rung] == [1] * 5
    assert [r["epochs"] for r in second_rung] == [2] * 2
    # the promoted trials are the top 2 of the first rung
    top2 = sorted(first_rung, key=lambda r: r["value"], reverse=True)[:2]
    assert {r["trial"] for r in second_rung} == {r["trial"] for r in top2}
    assert all(r["kept"] for r in top2)
    store = RunStore()
    for r in result["rows"]:
        assert store.get_run(r["run_id"])["config"]["train"]["epochs"] == r["epochs"]
    assert result["trained"] == 7
    assert result["best"]["epochs"] == 2
    assert result["best"]["value"] == max(r["value"] for r in second_rung)
    again = search(str(tiny_recipe), space, out=tmp_path / "b", **kwargs)
    assert again["trained"] == 0 and again["best"] == result["best"]


def test_grid_search_is_the_cartesian_product(tiny_recipe: Path, tmp_path: Path) -> None:
    space = ["optimizer.lr=loguniform(1e-2,1e-1)", "model.hidden=choice([16],[32,16])"]
    result = search(
        str(tiny_recipe), space, method="grid", grid_points=2, epochs=1, out=tmp_path, log=_quiet
    )
    got = sorted((r["params"]["optimizer.lr"], r["params"]["model.hidden"]) for r in result["rows"])
    assert got == [("0.01", "[16]"), ("0.01", "[32,16]"), ("0.1", "[16]"), ("0.1", "[32,16]")]
    assert {tuple(r["settings"]["model.hidden"]) for r in result["rows"]} == {(16,), (32, 16)}
    assert (tmp_path / "search.png").stat().st_size > 0
    assert "**selected**" in result["table"]


@pytest.mark.parametrize(
    "recipe, expected",
    [
        ("mlp-fmnist", "val_accuracy"),
        ("lstm-austen", "val_perplexity"),
        ("lstm-bi-austen", "val_cloze_accuracy"),
        ("seq2seq-bible-en-es", "val_bleu"),
        ("transfer-effnet-fmnist", "val_accuracy_finetune"),
    ],
)
def test_default_selection_metric_is_the_headlines_validation_twin(recipe, expected) -> None:
    from scratchdl.recipes import load_recipe
    from scratchdl.store import lower_is_better
    from scratchdl.workbench.search import validation_metric

    metric = validation_metric(load_recipe(recipe))
    assert metric == expected
    assert lower_is_better(metric) == ("perplexity" in expected)
