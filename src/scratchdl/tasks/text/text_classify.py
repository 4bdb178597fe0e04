"""The "text-classify" task: sentence polarity with the book's BiLSTM or TextCNN (sec. 15.2-3).

Data ([data]): a text-classification set (today `movie-reviews`, load_movie_reviews: its fixed
stratified split, shared with BERT fine-tuning), tokenized to lower-cased words and marks
(scratchdl.text.sentiment_data), a vocabulary of the training split's words (min_freq), each
sentence cut at max_len tokens, batches padded to their own longest sentence.

Embeddings ([embedding]): pretrained = "glove-6b-50d" (GloVe 6B 50d, model.embed_size must be
50), "none" (random init), or the path of a words.txt saved with a vectors.npy beside it (e.g.
a word2vec run's). Vocabulary words found in the table (lower-cased) start from their vector,
the rest from zeros (the book's choice). freeze = true keeps the embedding fixed. TextCNN's
two_channels adds the book's second, always-frozen copy of the same table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.tasks import register_task
from scratchdl.text.corpora.movie_reviews import load_movie_reviews
from scratchdl.text.embeddings.vectors import GLOVE_DIM, WordVectors, load_glove
from scratchdl.text.sentiment_data import batches, build_vocab, encode_split
from scratchdl.train.task import Task

DATASETS = ("movie-reviews",)


def _vector_dim(pretrained: str) -> int | None:
    """The dimension of the pretrained table (read from the .npy header), None for "none"."""
    if pretrained == "none":
        return None
    if pretrained == "glove-6b-50d":
        return GLOVE_DIM
    words = Path(pretrained)
    vectors = words.with_name("vectors.npy")
    if not words.is_file() or not vectors.is_file():
        raise UserError(
            f"embedding.pretrained = {pretrained!r}: expected 'glove-6b-50d', 'none' or the "
            "path of a words.txt with a vectors.npy beside it (a word2vec run directory's)"
        )
    shape = np.load(vectors, mmap_mode="r", allow_pickle=False).shape
    return int(shape[1]) if len(shape) == 2 else -1


def load_pretrained(pretrained: str) -> WordVectors | None:
    if pretrained == "none":
        return None
    if pretrained == "glove-6b-50d":
        return load_glove()
    return WordVectors.from_files(pretrained, Path(pretrained).with_name("vectors.npy"))


@register_task("text-classify")
class TextClassify(Task):
    defaults = {
        "data": {
            "dataset": "movie-reviews",
            "split_seed": 0,  # the dataset's fixed split (0: the one every recipe uses)
            "min_freq": 1,
            "max_len": 64,  # tokens kept per sentence (MR: 99.9% are shorter)
            "batch_size": 64,
            "eval_batch_size": 512,
        },
        "embedding": {"pretrained": "glove-6b-50d", "freeze": False},
    }
    model_kinds = ("text-classifier",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        d, e = cfg["data"], cfg["embedding"]
        if d["dataset"] not in DATASETS:
            raise UserError(
                f"data.dataset: expected one of {', '.join(DATASETS)}, got {d['dataset']!r}"
            )
        for key in ("max_len", "batch_size", "eval_batch_size", "min_freq"):
            if isinstance(d[key], bool) or not isinstance(d[key], int) or d[key] < 1:
                raise UserError(f"data.{key} must be an int >= 1, got {d[key]!r}")
        dim = _vector_dim(str(e["pretrained"]))
        size = cfg["model"].get("embed_size")
        if dim is not None and dim != size:
            raise UserError(
                f"embedding.pretrained {e['pretrained']!r} has {dim}-dimensional vectors but "
                f"model.embed_size is {size}: set model.embed_size = {dim}"
            )
        if dim is None and e["freeze"]:
            raise UserError(
                "embedding.freeze = true needs pretrained vectors (it would freeze noise)"
            )

    def setup(self) -> None:
        d, e, m = self.cfg["data"], self.cfg["embedding"], self.cfg["model"]
        raw = load_movie_reviews(seed=d["split_seed"])
        self.classes = raw.classes
        self.vocab = build_vocab(raw.train.texts, d["min_freq"])
        self.splits = {
            s: encode_split(part.texts, part.labels, self.vocab, d["max_len"], len(self.classes), s)
            for s, part in (("train", raw.train), ("val", raw.val), ("test", raw.test))
        }
        options = {k: v for k, v in m.items() if k != "name"}
        self.model = build_model(
            m["name"], vocab_size=len(self.vocab), num_classes=len(self.classes), **options
        )
        self.coverage = float("nan")
        table = load_pretrained(str(e["pretrained"]))
        if table is not None:
            weights, found = table.embedding_for(self.vocab.idx_to_token, m["embed_size"])
            self.coverage = found / len(self.vocab)
            for name in ("embedding", "constant_embedding"):
                emb = getattr(self.model, name, None)
                if emb is not None:
                    emb.weight.data.copy_(weights)
            if e["freeze"]:
                self.model.embedding.weight.requires_grad_(False)
        self.vocab.save(self.run.run_dir / "vocab.json")

    def configure_optimizers(self) -> dict[str, Any]:
        from scratchdl.train.optim import build_optimizer

        params = [p for p in self.model.parameters() if p.requires_grad]
        return {"main": build_optimizer(params, self.cfg["optimizer"])}

    def steps_per_epoch(self) -> int:
        return -(-len(self.splits["train"]) // self.cfg["data"]["batch_size"])

    def train_batches(self, epoch: int):
        g = torch.Generator().manual_seed(self.cfg["train"]["seed"] * 1000 + epoch)
        return batches(self.splits["train"], self.cfg["data"]["batch_size"], g)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        ids, lengths, y = batch
        logits = self.model(ids, lengths)
        return {
            "loss": F.cross_entropy(logits, y),
            "accuracy": (logits.detach().argmax(1) == y).float().mean(),
        }

    def evaluate(self, split: str) -> dict[str, float]:
        model = self.module("model")
        loss_sum, correct, n = 0.0, 0, 0
        for ids, lengths, y in batches(self.splits[split], self.cfg["data"]["eval_batch_size"]):
            ids, lengths, y = ids.to(self.device), lengths.to(self.device), y.to(self.device)
            logits = model(ids, lengths).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        return {"loss": loss_sum / n, "accuracy": correct / n}

    def test(self) -> dict[str, float]:
        out = {f"test_{k}": v for k, v in self.evaluate("test").items()}
        return {**out, "vocab_size": len(self.vocab), "pretrained_coverage": self.coverage}
