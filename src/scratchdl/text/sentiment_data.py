"""Sentences to padded id tensors: tokenize (lower-cased words and marks), a vocabulary from
the training split, truncation to max_len, batches padded to their own longest sentence.

    enc = encode_split(texts, labels, vocab, max_len=64, num_classes=2, split="train")
    for ids, lengths, y in batches(enc, 64, generator): ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.text.tokens.tokenizer import tokenize
from scratchdl.text.tokens.vocab import Vocab

PAD = "<pad>"


def sentence_tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (GloVe 6B is lower-cased)."""
    return tokenize(text.lower(), "word")


@dataclass(frozen=True)
class EncodedSplit:
    """ids [N, T] (pad-filled), lengths [N] (>= 1, <= T), labels [N] int64."""

    ids: Tensor
    lengths: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)


def build_vocab(texts: Sequence[str], min_freq: int = 1) -> Vocab:
    """<unk>, <pad>, then training words with count >= min_freq, most frequent first."""
    return Vocab([sentence_tokens(t) for t in texts], min_freq=min_freq, reserved=[PAD])


def encode_split(
    texts: Sequence[str],
    labels: Sequence[int],
    vocab: Vocab,
    max_len: int,
    num_classes: int,
    split: str,
) -> EncodedSplit:
    """One split as tensors; empty texts and labels outside 0..num_classes-1 are UserErrors."""
    if len(texts) != len(labels):
        raise UserError(f"{split}: {len(texts)} texts but {len(labels)} labels")
    if max_len < 1:
        raise UserError(f"data.max_len must be >= 1, got {max_len}")
    rows, lengths = [], []
    for i, (text, y) in enumerate(zip(texts, labels, strict=True)):
        if not isinstance(text, str) or not sentence_tokens(text):
            raise UserError(
                f"{split} text {i} is empty ({text!r}): every example needs at least one word"
            )
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < num_classes:
            raise UserError(
                f"{split} label {i} is {y!r}: expected an int in 0..{num_classes - 1} "
                f"({num_classes} classes)"
            )
        ids = vocab.encode(sentence_tokens(text)[:max_len])
        rows.append(ids)
        lengths.append(len(ids))
    width = max(lengths, default=1)
    out = torch.full((len(rows), width), vocab[PAD], dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return EncodedSplit(out, torch.tensor(lengths), torch.tensor(list(labels), dtype=torch.long))


def batches(
    data: EncodedSplit, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """(ids [b, T_b], lengths [b], labels [b]) with T_b the batch's longest sentence; shuffled
    when a generator is given, in order otherwise; the last batch may be smaller."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        lengths = data.lengths[idx]
        yield data.ids[idx, : int(lengths.max())], lengths, data.labels[idx]
