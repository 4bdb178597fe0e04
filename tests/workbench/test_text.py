"""compare, ablate and search on language-model recipes: perplexity is ranked lower-is-better."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scratchdl.workbench.ablate import ablate
from scratchdl.workbench.compare import compare
from scratchdl.workbench.search import search

WORDS = "the of and to her a i in was it she that not be he his had as for with but".split()


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(5)
    words = [rng.choice(WORDS) for _ in range(1500)]
    path = tmp_path_factory.mktemp("lm") / "words.txt"
    path.write_text(" ".join(words) + "\n")
    return path


def _budget(text: Path) -> list[str]:
    return [
        f"data.dataset={text}",
        "train.steps_per_epoch=4",
        "model.hidden_size=8",
        "generate.num_tokens=3",
        "generate.beam_size=1",
    ]


@pytest.mark.slow
def test_compare_ranks_perplexity_lower_is_better(text: Path, tmp_path: Path) -> None:
    result = compare(
        ["rnn-austen", "lstm-austen"],
        seeds=2,
        epochs=1,
        overrides=_budget(text),
        out=tmp_path / "cmp",
        log=lambda *_: None,
    )
    assert result["metric"] == "test_perplexity"
    assert "lower is better" in result["table"]
    assert [r["n"] for r in result["rows"]] == [2, 2]
    for row in result["rows"]:
        assert all(v > 1 for v in row["values"])  # perplexities, not accuracies
        assert row["mean"] == pytest.approx(sum(row["values"]) / 2)


@pytest.mark.slow
def test_ablate_and_search_on_an_lm_select_the_lowest_perplexity(
    text: Path, tmp_path: Path
) -> None:
    result = ablate(
        "lstm-austen",
        ["model.hidden_size=4,12"],
        epochs=1,
        overrides=[o for o in _budget(text) if not o.startswith("model.hidden_size")],
        out=tmp_path / "abl",
        log=lambda *_: None,
    )
    assert result["metric"] == "test_perplexity"
    assert "lower is better" in result["table"]
    found = search(
        str(_recipe_with_budget(text, tmp_path)),
        ["optimizer.lr=choice(0.0001,0.01)"],
        method="grid",
        out=tmp_path / "search",
        log=lambda *_: None,
    )
    assert found["metric"] == "val_perplexity"
    values = [r["value"] for r in found["rows"]]
    assert found["best"]["value"] == min(values)  # the lower perplexity wins


def _recipe_with_budget(text: Path, tmp_path: Path) -> Path:
    """lstm-austen with the test budget baked in (search takes no --set)."""
    from scratchdl.config import dumps_toml
    from scratchdl.recipes import load_recipe

    cfg = load_recipe("lstm-austen", [*_budget(text), "train.epochs=1"])
    path = tmp_path / "tiny-lstm.toml"
    path.write_text(dumps_toml(cfg))
    return path
