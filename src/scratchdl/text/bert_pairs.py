"""BERT pretraining data from offline prose: sentence pairs, half of them true next sentences.

    data = load_pretrain_data("austen", wordpiece, max_len=64)
    data.train.ids (N, T)  data.train.segments  data.train.is_next (N,)  data.tokens (vocab)

1. The corpus is split into train/val/test by whole 10k-character blocks (split_corpus), so
   no held-out sentence is seen in training.
2. Each part is cut into paragraphs (blank lines) and sentences (after . ! ? followed by
   space, not after Mr./Mrs./Dr./St.).
3. For every sentence with a successor in its paragraph: pair (A, next) with probability 1/2
   (is_next = 1), else (A, a random sentence of the same part) (is_next = 0), as in the book.
4. Pairs are WordPiece-encoded as [CLS] A [SEP] B [SEP], cut to max_len (longest first).
5. The 30,522-piece MiniLM vocabulary is compacted to the pieces the training pairs use (a
   small model need not carry 20k rows it never sees); pieces seen only in held-out text
   become [UNK]. Tokenization itself is unchanged: ids are only renumbered.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch

from scratchdl.errors import UserError
from scratchdl.text.tokens.wordpiece import SPECIALS, WordPiece

_SENTENCE_END = re.compile(r"(?<!Mr\.)(?<!Mrs\.)(?<!Dr\.)(?<!St\.)(?<=[.!?])\s+")


def paragraphs(text: str, min_words: int = 3) -> list[list[str]]:
    """Sentences of each paragraph; sentences of fewer than `min_words` words are dropped."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        flat = " ".join(block.split())
        sentences = [s for s in _SENTENCE_END.split(flat) if len(s.split()) >= min_words]
        if sentences:
            out.append(sentences)
    return out


def nsp_pairs(paras: list[list[str]], rng: random.Random) -> list[tuple[str, str, int]]:
    """(A, B, is_next): B follows A with probability 1/2, else a random sentence."""
    every = [s for p in paras for s in p]
    pairs = []
    for p in paras:
        for i in range(len(p) - 1):
            if rng.random() < 0.5:
                pairs.append((p[i], p[i + 1], 1))
            else:
                pairs.append((p[i], rng.choice(every), 0))
    return pairs


@dataclass
class PairSet:
    """Encoded pairs, padded with 0 ([PAD]) to the longest; lengths count real tokens."""

    ids: torch.Tensor
    segments: torch.Tensor
    lengths: torch.Tensor
    is_next: torch.Tensor

    def __len__(self) -> int:
        return len(self.is_next)

    def rows(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Rows `idx`, cut to their longest pair."""
        t = int(self.lengths[idx].max())
        return self.ids[idx, :t], self.segments[idx, :t], self.lengths[idx], self.is_next[idx]


@dataclass
class PretrainData:
    train: PairSet
    val: PairSet
    test: PairSet
    tokens: list[str]  # the compact vocabulary, id = index; specials first

    @property
    def stats(self) -> dict[str, int]:
        return {
            "train_pairs": len(self.train),
            "val_pairs": len(self.val),
            "test_pairs": len(self.test),
            "vocab_size": len(self.tokens),
        }


def _encode(pairs, wp: WordPiece, max_len: int) -> tuple[list[list[int]], list[list[int]]]:
    ids, segs = [], []
    for a, b, _ in pairs:
        i, s = wp.encode(a, b, max_len=max_len)
        ids.append(i)
        segs.append(s)
    return ids, segs


def _pack(ids, segs, pairs, table: dict[int, int]) -> PairSet:
    t = max(map(len, ids))
    n = len(ids)
    out, seg = torch.zeros(n, t, dtype=torch.long), torch.zeros(n, t, dtype=torch.long)
    unk = table[-1]
    for r, (i, s) in enumerate(zip(ids, segs, strict=True)):
        out[r, : len(i)] = torch.tensor([table.get(x, unk) for x in i])
        seg[r, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(i) for i in ids])
    return PairSet(out, seg, lengths, torch.tensor([p[2] for p in pairs]))


def load_pretrain_data(
    text_parts: tuple[str, str, str],
    wp: WordPiece,
    max_len: int = 64,
    seed: int = 0,
    train_limit: int = 0,
) -> PretrainData:
    """Pairs of the (train, val, test) texts, encoded, with the compact vocabulary."""
    rng = random.Random(seed)
    pairs = [nsp_pairs(paragraphs(t), rng) for t in text_parts]
    if train_limit > 0:
        pairs[0] = pairs[0][:train_limit]
    for name, p in zip(("train", "val", "test"), pairs, strict=True):
        if not p:
            raise UserError(
                f"no sentence pairs in the {name} text: expected prose with paragraphs of at "
                "least two sentences"
            )
    encoded = [_encode(p, wp, max_len) for p in pairs]
    used = sorted({x for row in encoded[0][0] for x in row} - {wp.ids[s] for s in SPECIALS})
    tokens = list(SPECIALS) + [wp.tokens[i] for i in used]
    table = {wp.ids[s]: k for k, s in enumerate(SPECIALS)}
    table.update({old: k + len(SPECIALS) for k, old in enumerate(used)})
    table[-1] = SPECIALS.index("[UNK]")
    sets = [_pack(i, s, p, table) for (i, s), p in zip(encoded, pairs, strict=True)]
    return PretrainData(*sets, tokens=tokens)
