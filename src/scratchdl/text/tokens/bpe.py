"""Byte-pair encoding (Sennrich et al. 2016; book sec. 15.6), learned from scratch.

    bpe = BPE.learn(words, vocab_size=8000)     # words: training-side words (str), repeated
    bpe.encode_word("unto")                     # ["un", "to▁"]
    bpe.encode(["in", "the", "beginning"])      # subwords of each word, in order
    bpe.decode(bpe.encode(words)) == words      # lossless for words over the alphabet
    bpe.save("bpe.json"); BPE.load("bpe.json")

Every word ends in the end-of-word symbol EOW ("▁", U+2581), so "to▁" (a word end) and "to"
(a word start) are different symbols and decoding is just "".join + split at EOW.

The book's loop rescans every word for every merge. Here the pair counts are kept over the
word-frequency table (each distinct word once, weighted by its count) and updated per merge:
only the words that contain the merged pair are re-counted (an index pair -> words), and the
best pair comes from a lazy max-heap (an entry whose count went stale is re-pushed with the
current count). A merge replaces every non-overlapping occurrence, left to right.

Tie-breaking (which matters for equality with a twin): among pairs of equal count the one with
the smallest (id of left, id of right) is merged, where the ids are the alphabet sorted by code
point, then the merged symbols in order of creation. This is Hugging Face `tokenizers`'
BpeTrainer's order, so with the same words it learns the same merges (tests/text/test_bpe.py) under:
`models.BPE()`, `pre_tokenizers.WhitespaceSplit()`, `BpeTrainer(vocab_size=V, min_frequency=F,
special_tokens=[], show_progress=False)` (no limit_alphabet, no initial_alphabet, no
end_of_word_suffix), trained on the words with EOW already appended ("unto▁").
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from scratchdl.errors import UserError

EOW = "\u2581"
UNK = "<unk>"
FORMAT = "scratchdl.bpe/1"


def _merge_word(word: list[int], a: int, b: int, new: int) -> list[int]:
    """`word` with every non-overlapping (a, b), left to right, replaced by `new`."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _pairs(word: Sequence[int]) -> Counter:
    return Counter(zip(word, word[1:], strict=False))


class BPE:
    """Merges (in learned order) and the symbol inventory; encode/decode words."""

    def __init__(self, alphabet: Sequence[str], merges: Sequence[tuple[str, str]]) -> None:
        self.alphabet = list(alphabet)
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        symbols = dict.fromkeys(self.alphabet)
        for a, b in self.merges:
            symbols[a + b] = None
        self.symbols = list(symbols)  # alphabet, then merged symbols (distinct, creation order)
        self._known = set(self.alphabet)
        self._cache: dict[str, list[str]] = {}

    # -- learning ------------------------------------------------------------------------
    @classmethod
    def learn(cls, words: Iterable[str], vocab_size: int, min_frequency: int = 2) -> BPE:
        """Merges learned on `words` (each occurrence counted) until the symbol inventory
        (alphabet + distinct merged symbols) has vocab_size entries, or the best pair occurs
        fewer than min_frequency times."""
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise UserError(f"BPE: vocab_size must be an integer >= 1, got {vocab_size!r}")
        freqs = Counter(words)
        bad = next((w for w in freqs if not w or EOW in w or any(c.isspace() for c in w)), None)
        if bad is not None:
            raise UserError(
                f"BPE: words must be non-empty, without whitespace or {EOW!r}, got {bad!r}; "
                "split the text into words first"
            )
        alphabet = sorted({c for w in freqs for c in w} | {EOW})
        ids = {c: i for i, c in enumerate(alphabet)}
        names = list(alphabet)
        table = [[ids[c] for c in w] + [ids[EOW]] for w in freqs]
        counts = list(freqs.values())
        pair_count: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = {}
        for i, word in enumerate(table):
            for pair, k in _pairs(word).items():
                pair_count[pair] += k * counts[i]
                where.setdefault(pair, set()).add(i)
        heap = [(-c, a, b) for (a, b), c in pair_count.items()]
        heapq.heapify(heap)
        merges: list[tuple[str, str]] = []
        while len(names) < vocab_size and heap:
            neg, a, b = heapq.heappop(heap)
            current = pair_count.get((a, b), 0)
            if current != -neg:  # stale entry: re-queue with the current count
                if current > 0:
                    heapq.heappush(heap, (-current, a, b))
                continue
            if current < max(min_frequency, 1):
                break
            merged = names[a] + names[b]
            new = ids.get(merged)
            if new is None:
                new = ids[merged] = len(names)
                names.append(merged)
            merges.append((names[a], names[b]))
            changed: set[tuple[int, int]] = set()
            for i in where.pop((a, b)):
                old = table[i]
                if not any(x == a and y == b for x, y in zip(old, old[1:], strict=False)):
                    continue  # the index is a superset: this word lost the pair earlier
                new_word = _merge_word(old, a, b, new)
                delta = _pairs(new_word)
                delta.subtract(_pairs(old))
                for pair, k in delta.items():
                    if k:
                        pair_count[pair] += k * counts[i]
                        if k > 0:
                            where.setdefault(pair, set()).add(i)
                            changed.add(pair)
                table[i] = new_word
            pair_count.pop((a, b), None)
            for pair in changed:
                if pair_count[pair] > 0:
                    heapq.heappush(heap, (-pair_count[pair], *pair))
        return cls(alphabet, merges)

    # -- encoding ------------------------------------------------------------------------
    def encode_word(self, word: str) -> list[str]:
        """Subwords of one word (EOW on the last); characters outside the alphabet -> <unk>."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = [c if c in self._known else UNK for c in word] + [EOW]
        while len(parts) > 1:
            ranked = [
                (self.ranks.get(p, len(self.ranks)), i)
                for i, p in enumerate(zip(parts, parts[1:], strict=False))
            ]
            rank, _ = min(ranked)
            if rank == len(self.ranks):
                break
            a, b = self.merges[rank]
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        self._cache[word] = parts
        return parts

    def encode(self, words: Iterable[str]) -> list[str]:
        """Subwords of each word in turn (one flat list)."""
        return [s for w in words for s in self.encode_word(w)]

    @staticmethod
    def decode(subwords: Iterable[str]) -> list[str]:
        """Words back from subwords: concatenate, split at EOW (a missing final EOW is fine)."""
        text = "".join(subwords)
        return [w for w in text.split(EOW) if w]

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, "alphabet": self.alphabet, "merges": self.merges}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPE:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            return cls(data["alphabet"], [tuple(m) for m in data["merges"]])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{path}: not a scratchdl BPE file ({e})") from None

    def __len__(self) -> int:
        return len(self.symbols)
