"""Sentence classification: encoding and its errors, padding-invariant BiLSTM and TextCNN (vs
plain torch on unpadded input), config checks, and a tiny text-classify run on the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.text.birnn import BiRNNClassifier
from scratchdl.models.text.textcnn import TextCNN
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks.text import text_classify
from scratchdl.tasks.text.text_classify import TextClassify
from scratchdl.text.corpora.movie_reviews import TextClassificationData, TextSplit
from scratchdl.text.sentiment_data import batches, build_vocab, encode_split


def test_encode_pads_truncates_and_batches_trim():
    vocab = build_vocab(["a good film", "a bad film !"])
    enc = encode_split(["A good film", "bad"], [1, 0], vocab, max_len=2, num_classes=2, split="t")
    pad = vocab["<pad>"]
    assert enc.ids.tolist() == [[vocab["a"], vocab["good"]], [vocab["bad"], pad]]
    assert enc.lengths.tolist() == [2, 1] and enc.labels.tolist() == [1, 0]
    ids, lengths, y = next(batches(enc, 1))
    assert ids.shape == (1, 2)
    ids, lengths, y = list(batches(enc, 1))[1]
    assert ids.tolist() == [[vocab["bad"]]]  # trimmed to the batch's longest sentence


def test_empty_text_and_bad_labels_are_one_line_errors():
    vocab = build_vocab(["x"])
    with pytest.raises(UserError, match="train text 1 is empty .*at least one word"):
        encode_split(["ok", "  "], [0, 1], vocab, 8, 2, "train")
    with pytest.raises(UserError, match=r"val label 0 is 2: expected an int in 0\.\.1"):
        encode_split(["ok"], [2], vocab, 8, 2, "val")
    with pytest.raises(UserError, match="label 0 is -1"):
        encode_split(["ok"], [-1], vocab, 8, 2, "val")


def test_birnn_ignores_padding_and_matches_plain_lstm():
    torch.manual_seed(0)
    m = BiRNNClassifier(20, 2, embed_size=6, hidden_size=5, num_layers=2).eval()
    seq = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 1, 1], [7, 8, 1, 1, 1]])
    out = m(padded, torch.tensor([3, 2]))
    torch.testing.assert_close(out[:1], m(seq, torch.tensor([3])))
    # by hand with the same nn.LSTM on the unpadded sentence: [first output, last output]
    h, _ = m.encoder(m.embedding(seq))
    torch.testing.assert_close(out[0], m.decoder(torch.cat([h[0, 0], h[0, -1]])))


def test_textcnn_ignores_padding_and_matches_conv_max_by_hand():
    torch.manual_seed(0)
    m = TextCNN(20, 2, embed_size=4, kernel_sizes=[2, 3], num_channels=[3, 2], two_channels=True)
    m.eval()
    seq = torch.tensor([[3, 4, 5, 6]])
    out = m(torch.tensor([[3, 4, 5, 6, 0, 0], [9, 0, 0, 0, 0, 0]]), torch.tensor([4, 1]))
    torch.testing.assert_close(out[:1], m(seq, torch.tensor([4])))
    x = torch.cat([m.embedding(seq), m.constant_embedding(seq)], 2).transpose(1, 2)
    feats = torch.cat([torch.relu(c(x).amax(2)) for c in m.convs], 1)
    torch.testing.assert_close(out[0], m.decoder(feats)[0])
    assert out.shape == (2, 2) and torch.isfinite(out).all()  # a 1-token sentence works
    assert not m.constant_embedding.weight.requires_grad
    with pytest.raises(UserError, match="same length"):
        TextCNN(5, 2, kernel_sizes=[3], num_channels=[1, 2])


def _cfg(*sets: str):
    return load_recipe(
        "textcnn-sentiment-mr",
        ["train.epochs=3", "embedding.pretrained=none", "model.embed_size=16", *sets],
    )


def test_config_checks_say_what_to_fix(tmp_path):
    with pytest.raises(UserError, match="has 50-dimensional vectors but model.embed_size is 16"):
        TextClassify.check_config(_cfg("embedding.pretrained=glove-6b-50d"))
    with pytest.raises(UserError, match="expected 'glove-6b-50d', 'none' or the path"):
        TextClassify.check_config(_cfg(f"embedding.pretrained={tmp_path / 'nope.txt'}"))
    (tmp_path / "words.txt").write_text("a\nb\n")
    np.save(tmp_path / "vectors.npy", np.zeros((2, 8), np.float32))
    with pytest.raises(UserError, match="has 8-dimensional vectors but model.embed_size is 16"):
        TextClassify.check_config(_cfg(f"embedding.pretrained={tmp_path / 'words.txt'}"))
    with pytest.raises(UserError, match="freeze = true needs pretrained vectors"):
        TextClassify.check_config(_cfg("embedding.freeze=true"))


def _toy() -> TextClassificationData:
    g = np.random.default_rng(0)
    pos, neg, filler = (
        ["good", "great", "fine"],
        ["bad", "awful", "poor"],
        ["the", "film", "a", "plot"],
    )

    def part(n: int) -> TextSplit:
        texts, labels = [], []
        for _ in range(n):
            y = int(g.integers(2))
            words = list(g.choice(filler, 4)) + [str(g.choice(pos if y else neg))]
            g.shuffle(words)
            texts.append(" ".join(words))
            labels.append(y)
        return TextSplit(texts, labels, list(range(n)))

    return TextClassificationData(part(256), part(64), part(64), ("negative", "positive"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["textcnn", "birnn-sentiment"])
def test_text_classify_task_learns_a_toy_polarity(monkeypatch, tmp_path, model):
    monkeypatch.setattr(text_classify, "load_movie_reviews", lambda seed: _toy())
    sets = [f"model.name={model}", "optimizer.lr=0.01", "data.batch_size=32"]
    summary = run_recipe(_cfg(*sets), out=tmp_path / "run", quiet=True)
    assert summary["final"]["test_accuracy"] == summary["test_accuracy"]
    assert summary["test_accuracy"] > 0.95
    assert (tmp_path / "run" / "vocab.json").is_file()


def test_pretrained_rows_are_copied_in(monkeypatch, tmp_path):
    monkeypatch.setattr(text_classify, "load_movie_reviews", lambda seed: _toy())
    (tmp_path / "words.txt").write_text("good\nbad\n")
    np.save(tmp_path / "vectors.npy", np.arange(32, dtype=np.float32).reshape(2, 16))
    cfg = _cfg(f"embedding.pretrained={tmp_path / 'words.txt'}", "embedding.freeze=true")
    from scratchdl.train.task import RunInfo

    task = TextClassify(cfg, RunInfo(tmp_path))
    task.setup()
    emb: nn.Embedding = task.model.embedding
    assert emb.weight[task.vocab["bad"]].tolist() == list(range(16, 32))
    assert emb.weight[task.vocab["film"]].abs().sum() == 0 and not emb.weight.requires_grad
    assert task.coverage == pytest.approx(2 / len(task.vocab))
