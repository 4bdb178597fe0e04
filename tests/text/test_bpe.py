"""BPE learned from scratch: hand-computed merges, the twin (Hugging Face tokenizers), files."""

from __future__ import annotations

import json
import random

import pytest

from scratchdl.errors import UserError
from scratchdl.text.tokens.bpe import BPE, EOW

tokenizers = pytest.importorskip("tokenizers")


def hf_merges(words: list[str], vocab_size: int, min_frequency: int = 2):
    """The twin under the settings bpe.py's docstring names; its merges and tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[], show_progress=False
    )
    lines = [" ".join(w + EOW for w in words[i : i + 50]) for i in range(0, len(words), 50)]
    tok.train_from_iterator(lines, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges], tok


def random_words(seed: int, n: int = 3000) -> list[str]:
    """Zipf-like words over a small alphabet, with runs ("aaab") to test overlapping pairs."""
    rng = random.Random(seed)
    letters = "abcdeéñ"
    lexicon = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(400)]
    lexicon += ["aaa", "aaaa", "baaab", "aaaaa"]
    weights = [1 / (i + 1) for i in range(len(lexicon))]
    return rng.choices(lexicon, weights, k=n)


def test_hand_computed_merges():
    # Sennrich et al.'s example. es, st, t▁ all occur 9 times: (e, s) has the smallest ids;
    # then (t, ▁) 9 beats (es, t) 9 (an alphabet symbol precedes a merged one); es + t▁ 9;
    # lo 7 (= ow 7: l < o), low 7; then (e, w) 6 beats (n, e) 6 on the smaller left symbol.
    words = ["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3
    bpe = BPE.learn(words, vocab_size=100)
    assert bpe.merges[:7] == [
        ("e", "s"), ("t", EOW), ("es", "t" + EOW), ("l", "o"), ("lo", "w"), ("e", "w"), ("n", "ew"),
    ]
    assert bpe.encode_word("newest") == ["newest" + EOW]
    assert bpe.encode_word("lowest") == ["low", "est" + EOW]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_merges_and_segmentation_as_tokenizers(seed):
    words = random_words(seed)
    ours = BPE.learn(words, vocab_size=150)
    theirs, tok = hf_merges(words, vocab_size=150)
    assert len(ours.merges) > 50
    assert ours.merges == theirs
    held_out = random_words(seed + 100, 300)
    for word in held_out:
        assert ours.encode_word(word) == tok.encode(word + EOW).tokens


def test_min_frequency_stops_learning():
    words = ["ab"] * 3 + ["cd"]
    assert BPE.learn(words, vocab_size=100, min_frequency=2).merges == [
        ("a", "b"), ("ab", EOW)
    ]
    assert len(BPE.learn(words, vocab_size=100, min_frequency=1).merges) == 4
    assert len(BPE.learn(words, vocab_size=7).symbols) == 7  # 6 symbols + 1 merge


def test_round_trip_unknown_and_files(tmp_path):
    words = random_words(3, 500)
    bpe = BPE.learn(words, vocab_size=60)
    assert bpe.decode(bpe.encode(words)) == words
    assert bpe.encode_word("xa")[0] == "<unk>"  # 'x' is not in the alphabet
    bpe.save(tmp_path / "bpe.json")
    again = BPE.load(tmp_path / "bpe.json")
    assert again.merges == bpe.merges and again.encode(words) == bpe.encode(words)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="not a scratchdl BPE file"):
        BPE.load(tmp_path / "bad.json")


@pytest.mark.parametrize("words", [["a b"], [""], [f"a{EOW}"]])
def test_bad_words_rejected(words):
    with pytest.raises(UserError, match="words must be"):
        BPE.learn(words, vocab_size=10)


def test_bad_vocab_size():
    with pytest.raises(UserError, match="vocab_size"):
        BPE.learn(["a"], vocab_size=0)
