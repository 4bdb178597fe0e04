"""The "word2vec" task: skip-gram or CBOW with negative sampling on the offline corpora.

Data ([data]): the corpora named in data.dataset, joined by "+" (each a corpus name or a
text file for load_corpus), concatenated, split by split_corpus
(whole 10k-character blocks, 5% val, 5% test), lower-cased, cut into word tokens (letters with
inner apostrophes; other marks dropped) and sentences (at . ! ?). The vocabulary is the
training split's words with count >= min_freq; rarer words are dropped from the text.

Each epoch (seeded by train.seed and the epoch, so a resumed run draws the same): subsample
the training tokens (keep probability min(1, sqrt(t/f))), draw each centre's window size in
1..window, shuffle the centres, and cut batches of data.batch_size centres; each context slot
gets data.negatives noise words from unigram^0.75. An epoch is train.steps_per_epoch batches
(0: one pass over the subsampled text). Per-epoch val: the SGNS loss on the first
data.val_tokens tokens of val with fixed draws (lower is better; comparable across epochs).

At the end: val/test loss, the vectors (words.txt + vectors.npy in the run directory, loadable
with WordVectors.from_files) and embeddings.md: ours vs GloVe 6B 50d on the same neighbour and
analogy queries (scratchdl.text.embeddings.report). Headline: analogy accuracy.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.tasks import register_task
from scratchdl.text.corpora import load_corpus, split_corpus
from scratchdl.text.embeddings.report import compare_tables
from scratchdl.text.embeddings.sampling import (
    context_windows,
    keep_probability,
    noise_distribution,
    subsample,
)
from scratchdl.text.embeddings.vectors import WordVectors, load_glove
from scratchdl.text.tokens.tokenizer import tokenize
from scratchdl.text.tokens.vocab import Vocab
from scratchdl.train.task import Task

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_STOP = frozenset(".!?")


def corpus_sentences(text: str) -> list[list[str]]:
    """Lower-cased word tokens of `text`, cut into sentences at . ! ? (marks dropped)."""
    out: list[list[str]] = [[]]
    for tok in tokenize(text.lower().replace("\u2019", "'"), "word"):
        if tok in _STOP:
            if out[-1]:
                out.append([])
        elif _WORD.fullmatch(tok):
            out[-1].append(tok)
    return [s for s in out if s]


def encode_sentences(sentences: list[list[str]], vocab: Vocab) -> torch.Tensor:
    """One id stream: in-vocabulary words, each sentence followed by -1 (a break)."""
    ids: list[int] = []
    index = vocab.token_to_idx
    for s in sentences:
        ids += [index[w] for w in s if w in index]
        ids.append(-1)
    return torch.tensor(ids, dtype=torch.long)


@register_task("word2vec")
class Word2VecTask(Task):
    defaults = {
        "data": {
            "dataset": "austen+shakespeare",  # corpora (or text files) joined by "+"
            "min_freq": 5,
            "subsample_t": 1e-4,
            "window": 5,
            "negatives": 5,
            "batch_size": 512,  # centres per batch
            "val_tokens": 50_000,
        },
        "train": {"steps_per_epoch": 0},
    }
    model_kinds = ("word-embedding",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        d = cfg["data"]
        if not isinstance(d["dataset"], str) or not all(d["dataset"].split("+")):
            raise UserError(
                "data.dataset: expected corpus names joined by '+' (e.g. "
                f"'austen+shakespeare'), got {d['dataset']!r}"
            )
        for key in ("min_freq", "window", "negatives", "batch_size", "val_tokens"):
            if isinstance(d[key], bool) or not isinstance(d[key], int) or d[key] < 1:
                raise UserError(f"data.{key} must be an int >= 1, got {d[key]!r}")
        if not isinstance(d["subsample_t"], int | float) or not d["subsample_t"] > 0:
            raise UserError(f"data.subsample_t must be > 0, got {d['subsample_t']!r}")

    def setup(self) -> None:
        d = self.cfg["data"]
        text = "\n\n".join(load_corpus(name) for name in d["dataset"].split("+"))
        parts = dict(zip(("train", "val", "test"), split_corpus(text), strict=True))
        train = corpus_sentences(parts["train"])
        self.vocab = Vocab(train, min_freq=d["min_freq"])
        self.words = self.vocab.idx_to_token[1:]  # <unk> (id 0) is never trained
        self.ids = {"train": encode_sentences(train, self.vocab)}
        for split in ("val", "test"):
            self.ids[split] = encode_sentences(corpus_sentences(parts[split]), self.vocab)
        counts = torch.zeros(len(self.vocab), dtype=torch.float64)
        train_words = self.ids["train"][self.ids["train"] >= 0]
        counts.index_add_(0, train_words, torch.ones(len(train_words), dtype=torch.float64))
        self.keep = keep_probability(counts.clamp_min(1), d["subsample_t"])
        counts[0] = 0  # <unk> is never drawn as noise
        self.noise = noise_distribution(counts).float()
        expected = float((counts * self.keep).sum())
        steps = int(self.cfg["train"]["steps_per_epoch"])
        self.steps = steps or max(1, int(expected) // d["batch_size"])
        self.model = build_model(
            self.cfg["model"]["name"], vocab_size=len(self.vocab), dim=self.cfg["model"]["dim"]
        )
        self.stats = {"train_tokens": len(train_words), "vocab_size": len(self.vocab)}

    def steps_per_epoch(self) -> int:
        return self.steps

    def _draw(self, ids: torch.Tensor, g: torch.Generator, sub: bool):
        d = self.cfg["data"]
        if sub:
            ids = subsample(ids, self.keep, g)
        centres, ctx, mask = context_windows(ids, d["window"], g)
        return centres, ctx, mask

    def _batches(self, ids: torch.Tensor, g: torch.Generator, shuffle: bool, sub: bool):
        d = self.cfg["data"]
        centres, ctx, mask = self._draw(ids, g, sub)
        order = torch.randperm(len(centres), generator=g) if shuffle else torch.arange(len(centres))
        B, K = d["batch_size"], d["negatives"]
        for start in range(0, len(order), B):
            i = order[start : start + B]
            neg = torch.multinomial(self.noise, len(i) * ctx.shape[1] * K, True, generator=g)
            yield centres[i], ctx[i], mask[i], neg.view(len(i), ctx.shape[1], K)

    def train_batches(self, epoch: int):
        g = torch.Generator().manual_seed(self.cfg["train"]["seed"] * 1000 + epoch)
        n = 0
        while True:  # one pass is about self.steps batches; top up or cut to exactly that
            for batch in self._batches(self.ids["train"], g, True, True):
                yield batch
                n += 1
                if n == self.steps:
                    return

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        return {"loss": self.model.loss(*batch)}

    def evaluate(self, split: str) -> dict[str, float]:
        ids = self.ids[split]
        if split == "val":
            ids = ids[: self.cfg["data"]["val_tokens"]]
        g = torch.Generator().manual_seed(12345)  # the same draws every epoch
        model = self.module("model")
        total, n = 0.0, 0
        for batch in self._batches(ids, g, False, False):
            batch = [t.to(self.device) for t in batch]
            total += float(model.loss(*batch)) * len(batch[0])
            n += len(batch[0])
        return {"loss": total / max(n, 1)}

    def word_vectors(self) -> WordVectors:
        return WordVectors(self.words, self.module("model").vectors()[1:].cpu())

    def test(self) -> dict[str, Any]:
        out = {f"{s}_loss": self.evaluate(s)["loss"] for s in ("val", "test")}
        ours = self.word_vectors()
        ours.save(self.run.run_dir / "words.txt", self.run.run_dir / "vectors.npy")
        name = self.cfg["model"]["name"]
        found = compare_tables(
            ours, load_glove(), self.run.run_dir / "embeddings.md",
            f"{name} ({self.cfg['model']['dim']}d, {self.cfg['data']['dataset']}) "
            "vs GloVe 6B 50d",
        )  # fmt: skip
        return {**out, **{f"test_{k}": v for k, v in found.items()}, **self.stats}
