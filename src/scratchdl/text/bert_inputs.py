"""BERT fine-tuning inputs: sentences to [CLS] ... [SEP] ids, tagged words to first-piece labels.

    rows, cut = encode_sentences(texts, wp, max_len=64)       # cut: how many were truncated
    rows, labels, cut = encode_tagged(words, tags, tagset, wp, max_len=64)
    ids, mask = pad(rows)                                      # (N, T) with [PAD] = 0

Sentences longer than max_len pieces are truncated (their count is returned so a task can
report it), never refused: a position table of 512 is not the limit a user hits, max_len is.
A tagged word's label sits on its first piece; the other pieces get -100 (ignored by the
loss), as in BERT's NER fine-tuning. Words cut off by max_len have no label in the row;
`cut` counts them so accuracy can count them as errors.
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.text.tokens.wordpiece import WordPiece


def check_labels(labels: list[int], num_classes: int, what: str = "labels") -> None:
    """UserError naming the first label outside 0..num_classes-1."""
    for i, y in enumerate(labels):
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < num_classes:
            raise UserError(
                f"{what}[{i}] = {y!r} is outside the label set 0..{num_classes - 1}: "
                "fix the data or the number of classes"
            )


def encode_sentences(texts: list[str], wp: WordPiece, max_len: int) -> tuple[list[list[int]], int]:
    """[CLS] text [SEP] ids of every text, cut to max_len; and how many were cut."""
    rows, cut = [], 0
    for text in texts:
        full = len(wp.tokenize(text)) + 2
        rows.append(wp.encode(text, max_len=max_len)[0])
        cut += full > max_len
    return rows, cut


def encode_tagged(
    words: list[list[str]], tags: list[list[str]], tagset: tuple[str, ...], wp: WordPiece,
    max_len: int,
) -> tuple[list[list[int]], list[list[int]], int]:  # fmt: skip
    """(ids, labels, words cut off) of tagged sentences: the label on each word's first piece."""
    index = {t: i for i, t in enumerate(tagset)}
    rows, labels, cut = [], [], 0
    for n, (ws, ts) in enumerate(zip(words, tags, strict=True)):
        if len(ws) != len(ts):
            raise UserError(f"sentence {n}: {len(ws)} words but {len(ts)} tags")
        ids, labs = [wp.cls_id], [-100]
        for k, (w, t) in enumerate(zip(ws, ts, strict=True)):
            if t not in index:
                raise UserError(
                    f"sentence {n}: tag {t!r} is not in the tag set ({', '.join(tagset)})"
                )
            pieces = wp.convert(wp.tokenize(w)) or [wp.unk_id]
            if len(ids) + len(pieces) > max_len - 1:
                cut += len(ws) - k
                break
            ids += pieces
            labs += [index[t]] + [-100] * (len(pieces) - 1)
        rows.append(ids + [wp.sep_id])
        labels.append(labs + [-100])
    return rows, labels, cut


def pad(rows: list[list[int]], value: int = 0) -> torch.Tensor:
    """(N, T) long tensor of the rows padded with `value` to the longest."""
    t = max(map(len, rows), default=0)
    out = torch.full((len(rows), t), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out
