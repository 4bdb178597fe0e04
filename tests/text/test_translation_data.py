"""Translation data: preprocessing, truncate/pad, arrays, splits, Tatoeba, the Bible pairs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.text.corpora.translation import (
    TranslationPair,
    build_arrays,
    load_bible_pairs,
    load_tatoeba_pairs,
    load_translation,
    parse_tatoeba,
    preprocess,
    split_groups,
    tokenize_sentence,
    truncate_pad,
)
from scratchdl.text.tokens.vocab import Vocab

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fra-eng-sample.txt"


def test_preprocess_splits_punctuation_and_lowercases() -> None:
    assert preprocess("Go, now!") == "go , now !"
    expected = ["¿", "qué", "pasa", "?", "¡", "nada", "!"]
    assert tokenize_sentence("¿Qué   pasa?\u00a0¡Nada!") == expected
    # inner apostrophes stay in the word, typographic ones become plain
    assert tokenize_sentence("Don\u2019t go, fish's end.") == [
        "don't",
        "go",
        ",",
        "fish's",
        "end",
        ".",
    ]
    assert tokenize_sentence("J'ai gagné !") == ["j'ai", "gagné", "!"]
    # NFC: a decomposed é equals the composed one
    assert tokenize_sentence("cafe\u0301") == tokenize_sentence("caf\u00e9") == ["café"]
    assert tokenize_sentence("beth-azmaveth") == ["beth", "-", "azmaveth"]
    assert tokenize_sentence("") == [] and preprocess("   ") == ""


@pytest.mark.parametrize(
    ("ids", "steps", "expect"),
    [
        ([5, 6], 4, ([5, 6, 0, 0], 2)),  # padded
        ([5, 6, 7, 8], 4, ([5, 6, 7, 8], 4)),  # exact fit
        ([5, 6, 7, 8, 9], 4, ([5, 6, 7, 8], 4)),  # truncated: valid length is num_steps
        ([], 3, ([0, 0, 0], 0)),  # empty sequence
        ([7], 1, ([7], 1)),
    ],
)
def test_truncate_pad(ids: list[int], steps: int, expect: tuple[list[int], int]) -> None:
    assert truncate_pad(ids, steps, pad=0) == expect


def test_truncate_pad_rejects_no_steps() -> None:
    with pytest.raises(UserError, match="num_steps"):
        truncate_pad([1], 0, pad=0)


def test_build_arrays_appends_eos_and_pads() -> None:
    vocab = Vocab([["a", "b", "c"]], reserved=["<pad>", "<bos>", "<eos>"])
    ids, lengths = build_arrays([["a", "b"], [], ["c", "zzz", "a", "b"]], vocab, num_steps=4)
    pad, eos, a, b, c = vocab.pad, vocab.eos, vocab["a"], vocab["b"], vocab["c"]
    assert ids.dtype == torch.int64 and lengths.dtype == torch.int64
    assert ids.tolist() == [[a, b, eos, pad], [eos, pad, pad, pad], [c, vocab.unk, a, b]]
    assert lengths.tolist() == [3, 1, 4]  # the truncated row lost its <eos>
    empty, empty_len = build_arrays([], vocab, num_steps=5)
    assert empty.shape == (0, 5) and empty_len.shape == (0,)


def test_split_groups_keeps_groups_together_and_is_deterministic() -> None:
    groups = [f"Book.{c}" for c in range(200) for _ in range(c % 5 + 1)]
    where = split_groups(groups, 0.1, 0.2, seed=7)
    assert where == split_groups(groups, 0.1, 0.2, seed=7)
    assert where != split_groups(groups, 0.1, 0.2, seed=8)
    # input order does not matter: the same group lands in the same split
    rev = split_groups(groups[::-1], 0.1, 0.2, seed=7)[::-1]
    assert rev == where
    by_group: dict[str, set[str]] = {}
    for g, s in zip(groups, where, strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    counts = {s: sum(1 for v in by_group.values() if s in v) for s in ("train", "val", "test")}
    assert counts == {"train": 140, "val": 20, "test": 40}
    with pytest.raises(UserError, match="val_fraction"):
        split_groups(groups, 1.0, 0.0, seed=0)
    with pytest.raises(UserError, match="< 1"):
        split_groups(groups, 0.5, 0.5, seed=0)


def test_parse_tatoeba_fixture() -> None:
    pairs = parse_tatoeba(FIXTURE.read_text(encoding="utf-8"))
    assert len(pairs) == 48  # 49 lines, one blank
    assert pairs[0] == TranslationPair("line1", "Go.", "Va !", "Go.")
    assert pairs[3].src == "Stop!" and pairs[3].tgt == "Arrête !"  # two-column line
    assert all("CC-BY" not in p.tgt for p in pairs)  # attribution column dropped
    with pytest.raises(UserError, match="line 2"):
        parse_tatoeba("Go.\tVa !\nno tab here\n")


def test_tatoeba_offline_without_cache_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    with pytest.raises(UserError, match="online only"):
        load_tatoeba_pairs()


def cache_tatoeba_fixture(data_dir: Path) -> None:
    """Put the fixture where load_tatoeba_pairs looks, zipped like the book's file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fra-eng/fra.txt", FIXTURE.read_text(encoding="utf-8"))
    (data_dir / "tatoeba").mkdir(parents=True, exist_ok=True)
    (data_dir / "tatoeba" / "fra-eng.zip").write_bytes(buf.getvalue())


def test_tatoeba_reads_cached_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    cache_tatoeba_fixture(tmp_path)
    pairs = load_tatoeba_pairs()
    assert len(pairs) == 48 and pairs[1].src == "Run!"
    (tmp_path / "tatoeba" / "fra-eng.zip").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="corrupt"):
        load_tatoeba_pairs()


def synthetic_pairs() -> list[TranslationPair]:
    """Chapters of 'verses'; the formula 'he said .' recurs in every chapter."""
    pairs = []
    for c in range(60):
        for v in range(4):
            words = " ".join(f"w{(c * 7 + v * 3 + k) % 50}" for k in range(v + c % 9))
            src = "he said ." if v == 0 else f"{words} end"
            tgt = "dijo ." if v == 0 else f"{words.upper()} fin"
            pairs.append(TranslationPair(f"B.{c}.{v}", src, tgt, f"B.{c}"))
    return pairs


def test_load_translation_filters_splits_and_keeps_test_unseen() -> None:
    pairs = synthetic_pairs()
    data = load_translation(max_tokens=6, pairs=pairs, val_fraction=0.1, test_fraction=0.2)
    assert data.num_steps == 7
    splits = {"train": data.train, "val": data.val, "test": data.test}
    for split in splits.values():
        assert all(len(t) <= 6 for t in split.src_tokens + split.tgt_tokens)
        assert split.src.shape == (len(split), 7) and split.tgt.shape == (len(split), 7)
        assert torch.equal(split.src_len, torch.tensor([len(t) + 1 for t in split.src_tokens]))
    chapters = {name: {r.rsplit(".", 1)[0] for r in s.refs} for name, s in splits.items()}
    assert not chapters["train"] & chapters["test"] and not chapters["train"] & chapters["val"]
    train_sources = {tuple(t) for t in data.train.src_tokens}
    assert not any(tuple(t) in train_sources for t in data.test.src_tokens + data.val.src_tokens)
    assert data.stats["test_seen_dropped"] > 0  # "he said ." was dropped from test
    # vocabularies come from the training split only
    train_words = {w for t in data.train.tgt_tokens for w in t}
    assert set(data.tgt_vocab.idx_to_token) - {"<unk>", "<pad>", "<bos>", "<eos>"} <= train_words
    assert data.tgt_vocab.idx_to_token[:4] == ["<unk>", "<pad>", "<bos>", "<eos>"]
    short = load_translation(max_tokens=6, pairs=pairs, train_limit=5)
    assert len(short.train) == 5
    with pytest.raises(UserError, match="no training pairs"):
        load_translation(max_tokens=1, pairs=pairs[1:4])
    with pytest.raises(UserError, match="unknown translation corpus"):
        load_translation("klingon")


def test_load_translation_bpe_units_learned_on_train_only() -> None:
    from scratchdl.text.tokens.bpe import BPE

    pairs = synthetic_pairs()
    data = load_translation(
        max_tokens=8,
        pairs=pairs,
        val_fraction=0.1,
        test_fraction=0.2,
        tokenizer="bpe",
        bpe_vocab=60,
        min_freq=1,
    )
    assert data.src_bpe is not None and data.tgt_bpe is not None
    # the split is of all chapters, then each side's BPE is learned on the training words
    everything = load_translation(
        max_tokens=50, pairs=pairs, val_fraction=0.1, test_fraction=0.2, min_freq=1
    )
    train_words = [w for t in everything.train.tgt_tokens for w in t]
    assert data.tgt_bpe.merges == BPE.learn(train_words, 60).merges
    for split in (data.train, data.val, data.test):
        assert len(split) > 0
        assert all(len(u) <= 8 for u in split.src_units + split.tgt_units)
        assert torch.equal(split.tgt_len, torch.tensor([len(u) + 1 for u in split.tgt_units]))
        for units, words in zip(split.tgt_units, split.tgt_tokens, strict=True):
            assert data.words(units) == words and data.tgt_bpe.encode(words) == units
    # units longer than words: fewer pairs pass the same max_tokens than with words
    word_data = load_translation(max_tokens=8, pairs=pairs, val_fraction=0.1, test_fraction=0.2)
    assert len(data.train) < len(word_data.train)
    assert word_data.src_bpe is None and word_data.words(["a", "b"]) == ["a", "b"]
    with pytest.raises(UserError, match="data.tokenizer"):
        load_translation(pairs=pairs, tokenizer="chars")


def bible_pairs() -> list[TranslationPair]:
    try:
        return load_bible_pairs(fetch=False)
    except UserError as e:
        pytest.skip(f"Bible modules not here ({e}); see DATA.md")


def test_bible_pairs_are_aligned() -> None:
    pairs = bible_pairs()
    by_ref = {p.ref: p for p in pairs}
    assert by_ref["Gen.1.1"].src == "In the beginning God created the heaven and the earth."
    assert by_ref["Gen.1.1"].tgt == "EN el principio crió Dios los cielos y la tierra."
    assert by_ref["John.3.16"].src.startswith("For God so loved the world")
    assert by_ref["John.3.16"].tgt.startswith("Porque de tal manera amó Dios al mundo")
    assert by_ref["John.11.35"].tgt == "Y lloró Jesús."
    # Spanish moves KJV Jonah 1:17 to 2:1: chapter 1 (empty verse) and 2 (shifted) are dropped
    assert not any(p.group in ("Jonah.1", "Jonah.2") for p in pairs)
    assert "Jonah.3.1" in by_ref
    assert all(p.src and p.tgt for p in pairs)
    assert 30_000 < len(pairs) < 31_102


def test_bible_translation_split_has_unseen_test_chapters() -> None:
    data = load_translation(max_tokens=20, pairs=bible_pairs())
    chapters = {
        name: {r.rsplit(".", 1)[0] for r in s.refs}
        for name, s in (("train", data.train), ("test", data.test))
    }
    assert not chapters["train"] & chapters["test"]
    assert len(data.train) > 5000 and len(data.test) > 200
    train_sources = {tuple(t) for t in data.train.src_tokens}
    assert not any(tuple(t) in train_sources for t in data.test.src_tokens)
