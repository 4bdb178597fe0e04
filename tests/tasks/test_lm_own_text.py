"""A language model on your own short text, the way README promises:
`scratchdl run lstm-austen --set data.dataset=my.txt` with nothing else to set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore
from scratchdl.tasks.text._lm_eval import DEFAULT_PREFIX, generation_prefix
from scratchdl.text.lm_data import auto_block_chars, load_lm_data
from tests.conftest import run_cli

# no "v" (nor "k", "q", "y"): the default prefix "it is a truth universally acknowledged"
# cannot be encoded from this text's vocabulary
WORDS = "the of and to her a i in was it she that not be he his had as for with but".split()
BUDGET = [
    "train.epochs=1",
    "train.steps_per_epoch=3",
    "model.hidden_size=16",
    "generate.num_tokens=5",
    "generate.beam_size=2",
]


@pytest.fixture(scope="module")
def my_txt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~6,000 characters: far under the 200k that 10k-character blocks need."""
    rng = random.Random(3)
    sentences = []
    while sum(len(s) + 1 for s in sentences) < 6000:
        sentences.append(" ".join(rng.choices(WORDS, k=rng.randint(3, 9))).capitalize() + ".")
    path = tmp_path_factory.mktemp("own") / "my.txt"
    path.write_text(" ".join(sentences) + "\n")
    return path


def test_auto_block_size_keeps_10k_blocks_for_long_texts_and_40_blocks_for_short() -> None:
    assert auto_block_chars(4_000_000) == 10_000  # austen: as before
    assert auto_block_chars(200_000) == 10_000
    assert auto_block_chars(199_999) == 4_999  # 199_999 // 40
    assert auto_block_chars(6_000) == 150
    assert auto_block_chars(10) == 1


def test_short_text_gets_val_and_test_blocks(my_txt: Path) -> None:
    cfg = load_recipe("lstm-austen", [f"data.dataset={my_txt}"])
    assert cfg["data"]["block_chars"] == 0  # auto
    data = load_lm_data(cfg["data"])
    n = len(my_txt.read_text())
    assert data.stats["block_chars"] == n // 40
    # 40 blocks at 5% + 5%: 2 val and 2 test blocks of n // 40 characters each (cleaning
    # turns each ". " into one space, so a block has a few tokens fewer than characters)
    for split in ("val_tokens", "test_tokens"):
        assert 0.9 * 2 * (n // 40) < data.stats[split] <= 2 * (n // 40)


def test_default_prefix_falls_back_to_the_text_and_others_still_fail(my_txt: Path) -> None:
    data = load_lm_data(load_recipe("lstm-austen", [f"data.dataset={my_txt}"])["data"])
    ids, note = generation_prefix(data, DEFAULT_PREFIX)
    assert "taken from the training text" in note and "lacks" in note
    assert len(ids) == len(DEFAULT_PREFIX) and data.vocab.unk not in ids
    text = data.join(ids)
    train = data.join(data.train.tolist())
    assert text in train and train[train.index(text) - 1] == " "  # starts at a word
    ids2, note2 = generation_prefix(data, "")
    assert ids2 == ids and "empty" in note2
    assert data.join(generation_prefix(data, "she had")[0]) == "she had"
    with pytest.raises(UserError, match=r"does not know: \['v', 'y'\]"):
        generation_prefix(data, "she was very")  # a prefix you chose is never replaced


def test_run_on_my_text_with_the_recipe_as_shipped(my_txt: Path, tmp_path: Path) -> None:
    """Before: 'split_corpus: 6000 characters make 1 blocks of 10000 ...' then, with
    block_chars set, 'generate.prefix has tokens the vocabulary does not know: ['v', 'y']'."""
    out = tmp_path / "run"
    args = ["run", "lstm-austen", "--set", f"data.dataset={my_txt}", "--json", "--out", str(out)]
    for s in BUDGET:
        args += ["--set", s]
    proc = run_cli(*args, check=True)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["label"] == "lstm-austen@my.txt"
    assert summary["run_id"].startswith("lstm-austen@my.txt-")
    assert summary["recipe"] == "lstm-austen"  # the recipe stays the recipe (compare, ablate)
    assert json.loads((out / "meta.json").read_text())["label"] == "lstm-austen@my.txt"
    sample = (out / "sample.txt").read_text()
    assert "(taken from the training text" in sample.splitlines()[0]
    assert summary["final"]["block_chars"] == len(my_txt.read_text()) // 40


def test_ngram_and_cloze_on_my_text(my_txt: Path, tmp_path: Path) -> None:
    cfg = load_recipe("ngram-austen", [f"data.dataset={my_txt}", "ngram.orders=[2, 3]"])
    summary = run_recipe(cfg, out=tmp_path / "ngram", quiet=True)
    assert summary["label"] == "ngram-austen@my.txt" and summary["test_perplexity"] > 1
    cfg = load_recipe("lstm-bi-austen", [f"data.dataset={my_txt}", "cloze.context=8", *BUDGET[:3]])
    summary = run_recipe(cfg, out=tmp_path / "cloze", quiet=True)
    assert 0 < summary["test_cloze_accuracy"] < 1
    assert RunStore().get_run(summary["run_id"])["recipe"] == "lstm-bi-austen"


def test_clean_none_keeps_case_and_punctuation(my_txt: Path) -> None:
    """data.clean: letters (default) lower-cases and drops all but a-z; none keeps the text."""
    letters = load_lm_data(load_recipe("lstm-austen", [f"data.dataset={my_txt}"])["data"])
    raw = load_lm_data(
        load_recipe("lstm-austen", [f"data.dataset={my_txt}", "data.clean=none"])["data"]
    )
    assert set(letters.vocab.idx_to_token) - {"<unk>"} <= set("abcdefghijklmnopqrstuvwxyz ")
    assert {".", "T", "S"} <= set(raw.vocab.idx_to_token)
