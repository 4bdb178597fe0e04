"""Data for the language-model tasks (scratchdl.tasks.text.language_model and .ngram):
the corpus split, cleaned, tokenized and encoded (load_lm_data -> LMData), and the endless,
resumable stream of training batches (BatchStream).

Data (shared by the three tasks, [data] table). data.dataset names a corpus of
scratchdl.text.corpora ("austen", "shakespeare", "time-machine") or is the path of a UTF-8 text
file. The raw text is cut by split_corpus into whole blocks of data.block_chars characters
(val_fraction / test_fraction of them held out, spread evenly over the text). block_chars 0
(the default) means automatic: 10,000 characters for texts of at least 200,000 characters,
otherwise len(text) // 40 (so a short text of your own still gets val and test blocks spread
over it). data.train_chars > 0 keeps only about that many training characters, as whole blocks
spread evenly over the training split (so every novel still contributes). Each split is then
cleaned (data.clean: "letters" = the book's preprocessing, every run of characters outside a-z
and A-Z becomes one space and the text is lower-cased, so only a-z and space remain; "none" =
the text as it is, case, digits, punctuation and newlines kept) and tokenized (data.level:
"char" or "word"); the vocabulary is built from the training split only (data.min_freq; rarer
or unseen tokens become <unk>). Every model of one configuration sees exactly the same
training text and is scored on exactly the same held-out text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch
from torch import Tensor

from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.text.corpora import load_corpus, split_corpus
from scratchdl.text.tokens.batches import random_batches, sequential_batches
from scratchdl.text.tokens.tokenizer import clean_text, tokenize
from scratchdl.text.tokens.vocab import Vocab

# ----------------------------------------------------------------------------- config

CORPUS_DEFAULTS: dict[str, Any] = {
    "dataset": "austen",  # a corpus name or the path of a UTF-8 .txt file
    "level": "char",  # char or word tokens
    "clean": "letters",  # letters (the book's: a-z and space, rest dropped) or none (as is)
    "min_freq": 1,  # rarer training tokens become <unk>
    "val_fraction": 0.05,
    "test_fraction": 0.05,
    "block_chars": 0,  # split_corpus block size; 0: auto (10k, or len/40 under 200k chars)
    "train_chars": 0,  # > 0: keep about this many training characters (whole blocks, spread)
}
SEQUENCE_DEFAULTS: dict[str, Any] = {
    "num_steps": 64,  # tokens per training window (the BPTT length)
    "batch_size": 32,  # rows per batch (per process under --nproc)
    "eval_batch_size": 64,  # rows read side by side when scoring a held-out split
    "val_epoch_tokens": 0,  # per-epoch val scores this many val tokens (0: all)
}
BLOCK_CHARS = 10_000  # the automatic block size of texts of at least SHORT_TEXT characters
SHORT_TEXT = 200_000
SHORT_TEXT_BLOCKS = 40  # a shorter text is cut into this many blocks


def auto_block_chars(num_chars: int) -> int:
    """data.block_chars=0: 10k-character blocks, or 40 blocks for a text under 200k chars."""
    return BLOCK_CHARS if num_chars >= SHORT_TEXT else max(1, num_chars // SHORT_TEXT_BLOCKS)


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise UserError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _positive_int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{key} must be an int >= {minimum}, got {value!r}")
    return value


# ----------------------------------------------------------------------------- data


@dataclass
class LMData:
    """Token ids of the three splits (int64 [N]) and the training vocabulary."""

    vocab: Vocab
    train: Tensor
    val: Tensor
    test: Tensor
    level: str
    clean: str
    stats: dict[str, float] = field(default_factory=dict)

    def encode_prefix(self, prefix: str) -> list[int]:
        """Ids of a generation prefix after the corpus's cleaning and tokenization.

        A token the vocabulary does not know is an error (it would silently become <unk>).
        """
        tokens = tokenize(clean_text(prefix, self.clean), self.level)
        if not tokens:
            raise UserError(
                f"generate.prefix {prefix!r} has no tokens after cleaning ({self.clean!r}); "
                "give some text"
            )
        unknown = sorted({t for t in tokens if t not in self.vocab})
        if unknown:
            raise UserError(
                f"generate.prefix has tokens the vocabulary does not know: {unknown[:10]}; "
                "use tokens of the training text (after data.clean) or lower data.min_freq"
            )
        return self.vocab[tokens]

    def prefix_from_text(self, num_tokens: int) -> list[int]:
        """The first num_tokens tokens of the training text (from a word start, no <unk>):
        a generation prefix the vocabulary surely knows."""
        ids = self.train.tolist()
        start = 0
        if self.level == "char" and " " in self.vocab:
            space = self.vocab[" "]
            start = next((i + 1 for i, t in enumerate(ids[:1000]) if t == space), 0)
        out = [t for t in ids[start : start + 4 * num_tokens] if t != self.vocab.unk]
        return out[:num_tokens]

    def join(self, ids: list[int]) -> str:
        sep = "" if self.level == "char" else " "
        return sep.join(self.vocab.decode(ids))


def _thin_blocks(text: str, block_chars: int, keep_chars: int) -> str:
    """About keep_chars characters of `text` as whole blocks spread evenly over it."""
    blocks = [text[i : i + block_chars] for i in range(0, len(text), block_chars)]
    keep = min(len(blocks), max(1, round(keep_chars / block_chars)))
    chosen = [blocks[(k * len(blocks)) // keep] for k in range(keep)]
    return "".join(chosen)


def load_lm_data(dcfg: dict[str, Any]) -> LMData:
    """Split, clean, tokenize and encode the corpus as described in the module doc."""
    level = _choice(dcfg["level"], ("char", "word"), "data.level")
    clean = _choice(dcfg["clean"], ("letters", "none"), "data.clean")
    block_chars = _positive_int(dcfg["block_chars"], "data.block_chars", 0)
    text = load_corpus(str(dcfg["dataset"]))
    block_chars = block_chars or auto_block_chars(len(text))
    train, val, test = split_corpus(
        text, float(dcfg["val_fraction"]), float(dcfg["test_fraction"]), block_chars
    )
    train_chars = _positive_int(dcfg["train_chars"], "data.train_chars", minimum=0)
    if train_chars:
        train = _thin_blocks(train, block_chars, train_chars)
    parts = [tokenize(clean_text(part, clean), level) for part in (train, val, test)]
    if not parts[0]:
        raise UserError(
            f"the training split of {dcfg['dataset']!r} has no tokens after cleaning "
            f"({clean!r}); give a text with letters or use data.clean=none"
        )
    vocab = Vocab(parts[0], min_freq=_positive_int(dcfg["min_freq"], "data.min_freq", 0))
    ids = [vocab.encode(p) for p in parts]
    stats = {
        "vocab_size": len(vocab),
        "train_tokens": len(ids[0]),
        "val_tokens": len(ids[1]),
        "test_tokens": len(ids[2]),
        "val_unk_rate": float((ids[1] == vocab.unk).double().mean()) if len(ids[1]) else 0.0,
        "block_chars": block_chars,
    }
    return LMData(vocab, ids[0], ids[1], ids[2], level, clean, stats)


def _need_tokens(ids: Tensor, count: int, split: str, hint: str) -> None:
    if len(ids) < count:
        raise UserError(
            f"the {split} split has {len(ids)} tokens, fewer than the {count} needed; {hint}"
        )


# ----------------------------------------------------------------------------- the batch stream


class BatchStream:
    """Endless training batches: pass after pass over the training ids, each pass with its own
    seeded generator (data_order_seed(seed) + pass), so (pass_index, batch_index) pins the
    position and a resumed run continues with exactly the batches it would have seen.

    sequential: sequential_batches with a random start offset in [0, num_steps) per pass;
    random: random_batches. next() -> (first batch of a pass?, X, Y), X and Y [B, T].
    """

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        num_steps: int,
        partition: str,
        seed: int,
        pass_index: int = 0,
        batch_index: int = 0,
    ) -> None:
        self.ids, self.batch_size, self.num_steps = ids, batch_size, num_steps
        self.partition, self.seed = partition, seed
        self.pass_index, self.batch_index = pass_index, batch_index
        self._batches: Iterator | None = None

    def min_batches_per_pass(self) -> int:
        """Batches every pass has whatever its random offset (the last few may vary)."""
        N, B, T = len(self.ids), self.batch_size, self.num_steps
        if self.partition == "sequential":
            return max(1, ((N - T) // B) // T)
        return max(1, ((N - T) // T) // B)

    def _open(self) -> Iterator:
        gen = torch.Generator().manual_seed(data_order_seed(self.seed) + self.pass_index)
        B, T = self.batch_size, self.num_steps
        if self.partition == "random":
            batches = random_batches(self.ids, B, T, gen)
        else:  # keep one full batch: the offset may not eat into it
            max_offset = min(T, len(self.ids) - B * T)
            offset = int(torch.randint(max_offset, (1,), generator=gen))
            batches = sequential_batches(self.ids, B, T, offset)
        return islice(batches, self.batch_index, None)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[bool, Tensor, Tensor]:
        if self._batches is None:
            self._batches = self._open()
        batch = next(self._batches, None)
        if batch is None:  # this pass is over: the next one starts from its first batch
            self.pass_index, self.batch_index = self.pass_index + 1, 0
            self._batches = self._open()
            batch = next(self._batches)
        first = self.batch_index == 0
        self.batch_index += 1
        return first, batch[0], batch[1]

    def position(self) -> dict[str, int]:
        return {"pass_index": self.pass_index, "batch_index": self.batch_index}
