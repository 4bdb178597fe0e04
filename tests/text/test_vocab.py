"""Vocab: id order (unk, reserved, by frequency, ties by first appearance), min_freq, encode and
decode, save/load and to_dict round trips, and bad input. The twin is a plain-Python reference
vocabulary built the book's way (Counter sorted by count) on random token streams."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.text import Vocab, tokenize


def reference_vocab(tokens: list[str], min_freq: int, reserved: list[str]) -> list[str]:
    """idx_to_token the book's way, written independently of scratchdl: a stable sort by count."""
    counts = Counter()
    first_seen = {}
    for i, t in enumerate(tokens):
        counts[t] += 1
        first_seen.setdefault(t, i)
    ranked = sorted(counts, key=lambda t: (-counts[t], first_seen[t]))
    specials = ["<unk>"] + [t for t in reserved if t != "<unk>"]
    return specials + [t for t in ranked if counts[t] >= min_freq and t not in specials]


@pytest.mark.parametrize("seed", range(5))
def test_vocab_matches_reference_on_random_streams(seed):
    rng = random.Random(seed)
    alphabet = [f"w{i}" for i in range(rng.randint(1, 40))]
    # a skewed draw, so there are frequent words, rare words and ties
    tokens = rng.choices(alphabet, weights=[1 / (i + 1) for i in range(len(alphabet))], k=300)
    min_freq = rng.randint(0, 6)
    reserved = rng.sample(["<pad>", "<bos>", "<eos>", "w0"], rng.randint(0, 4))
    vocab = Vocab(tokens, min_freq=min_freq, reserved=reserved)
    assert vocab.idx_to_token == reference_vocab(tokens, min_freq, reserved)
    assert vocab.token_freqs == sorted(Counter(tokens).items(), key=lambda kv: -kv[1])
    assert sum(c for _, c in vocab.token_freqs) == len(tokens)


def test_order_unk_reserved_then_frequency_with_ties_by_first_appearance():
    tokens = list("abcbcc") + ["d", "e", "e", "d"]  # c:3 b:2 d:2 e:2 a:1; d appears before e
    vocab = Vocab(tokens, reserved=["<pad>", "<bos>", "<eos>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>", "<bos>", "<eos>", "c", "b", "d", "e", "a"]
    assert (vocab.unk, vocab.pad, vocab.bos, vocab.eos) == (0, 1, 2, 3)
    assert vocab.token_freqs[:2] == [("c", 3), ("b", 2)]
    assert len(vocab) == 9


def test_min_freq_drops_rare_tokens_to_unk_but_keeps_them_in_the_frequency_table():
    vocab = Vocab(list("aaabbc"), min_freq=2)
    assert vocab.idx_to_token == ["<unk>", "a", "b"]
    assert "c" not in vocab and "a" in vocab
    assert vocab["c"] == vocab.unk == 0 and vocab["zzz"] == 0
    assert ("c", 1) in vocab.token_freqs
    assert Vocab(list("aaabbc"), min_freq=0).idx_to_token == Vocab(list("aaabbc")).idx_to_token
    assert Vocab(list("aaabbc"), min_freq=4).idx_to_token == ["<unk>"]


def test_reserved_tokens_keep_their_order_and_are_not_duplicated_by_the_corpus():
    vocab = Vocab(["<eos>", "x", "<eos>", "<unk>"], reserved=["<eos>", "<pad>", "<unk>"])
    assert vocab.idx_to_token == ["<unk>", "<eos>", "<pad>", "x"]
    assert vocab.reserved == ["<eos>", "<pad>"]


def test_nested_token_lists_count_like_the_flat_stream():
    lines = [["the", "cat"], ["the", "dog"], []]
    assert Vocab(lines).idx_to_token == Vocab(["the", "cat", "the", "dog"]).idx_to_token
    assert Vocab(iter(lines)).idx_to_token == Vocab(lines).idx_to_token  # one-shot iterators too


def test_empty_vocab_has_only_the_specials():
    vocab = Vocab(reserved=["<pad>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>"] and vocab.token_freqs == []
    assert vocab.encode([]).shape == (0,) and vocab.encode([]).dtype == torch.int64


def test_encode_decode_round_trip_on_text():
    text = "It is a truth universally acknowledged, that a single man..."
    vocab = Vocab(tokenize(text, "char"))
    ids = vocab.encode(tokenize(text, "char"))
    assert ids.dtype == torch.int64 and ids.shape == (len(text),)
    assert "".join(vocab.decode(ids)) == text
    assert vocab.to_tokens(ids.tolist()) == list(text)
    assert torch.equal(vocab.encode(text), ids)  # a str is its characters
    assert vocab[["I", "t"]] == ids[:2].tolist()
    assert vocab.decode([]) == [] and vocab.decode(torch.tensor([], dtype=torch.int64)) == []
    assert vocab.decode(torch.tensor(vocab["a"])) == ["a"]  # a 0-d tensor is one id
    unknown = vocab.encode(["Q", "a"])
    assert unknown.tolist() == [0, vocab["a"]] and vocab.decode(unknown) == ["<unk>", "a"]


def test_to_dict_from_dict_and_save_load_round_trip(tmp_path):
    vocab = Vocab(
        tokenize("the cat and the hat, the end: «naïve» 日本", "word"),
        min_freq=1,
        reserved=["<pad>", "<bos>", "<eos>"],
    )
    d = vocab.to_dict()
    json.dumps(d)  # JSON-able
    again = Vocab.from_dict(json.loads(json.dumps(d)))
    assert again.to_dict() == d
    assert again.idx_to_token == vocab.idx_to_token and again.token_freqs == vocab.token_freqs
    assert (again.pad, again.bos, again.eos) == (1, 2, 3)
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded.to_dict() == d
    assert torch.equal(loaded.encode(["the", "日本", "zz"]), vocab.encode(["the", "日本", "zz"]))
    assert "日本" in path.read_text(encoding="utf-8")  # stored as UTF-8, not escaped


def test_special_token_properties_need_the_token_reserved():
    vocab = Vocab(["<pad>", "a"])  # "<pad>" as an ordinary token is not reserved
    assert vocab.unk == 0
    with pytest.raises(UserError, match="no <pad> token.*reserved"):
        _ = vocab.pad
    with pytest.raises(UserError, match="no <bos>"):
        _ = vocab.bos
    with pytest.raises(UserError, match="no <eos>"):
        _ = vocab.eos


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tokens": "a plain string"}, "one str"),
        ({"tokens": [1, 2, 3]}, "expected str tokens"),
        ({"tokens": [["a"], "b"]}, "mix"),
        ({"tokens": ["a"], "min_freq": -1}, "min_freq"),
        ({"tokens": ["a"], "min_freq": 1.5}, "min_freq"),
        ({"tokens": ["a"], "reserved": ["<pad>", "<pad>"]}, "distinct"),
        ({"tokens": ["a"], "reserved": [3]}, "distinct"),
    ],
)
def test_bad_construction_is_a_user_error(kwargs, match):
    with pytest.raises(UserError, match=match):
        Vocab(**kwargs)


def test_bad_decode_and_bad_files_are_user_errors(tmp_path):
    vocab = Vocab(list("abc"))
    with pytest.raises(UserError, match="not an int in 0..3"):
        vocab.decode([4])
    with pytest.raises(UserError, match="not an int"):
        vocab.decode([-1])
    with pytest.raises(UserError, match="1-D integer tensor"):
        vocab.decode(torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(UserError, match="1-D integer tensor"):
        vocab.decode(torch.tensor([1.0]))
    with pytest.raises(UserError, match="no vocabulary file"):
        Vocab.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not a vocabulary JSON"):
        Vocab.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a vocabulary JSON"):
        Vocab.load(tmp_path / "list.json")
    d = vocab.to_dict()
    for broken in (
        {**d, "format": "other"},
        {**d, "idx_to_token": ["a", "<unk>"]},
        {**d, "idx_to_token": ["<unk>", "a", "a"]},
        {k: v for k, v in d.items() if k != "token_freqs"},
    ):
        with pytest.raises(UserError, match="not a saved scratchdl Vocab"):
            Vocab.from_dict(broken)
