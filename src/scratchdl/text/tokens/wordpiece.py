"""WordPiece encoding with a given vocabulary (BERT's tokenizer), written from scratch.

Two stages, as in the original BERT code:
1. basic tokenization: drop control characters (any category C*, as `tokenizers` does) and
   U+FFFD, map whitespace to " ", put spaces around CJK ideographs, lower-case, strip accents
   (NFD then drop combining marks), split on whitespace and punctuation (every ASCII
   non-alphanumeric symbol is punctuation too, e.g. "$" and "^", as in BERT);
2. WordPiece: each word is split greedily, longest match first, into vocabulary pieces, the
   non-initial ones written with a "##" prefix; a word with no split, or longer than
   `max_chars` characters, becomes [UNK].

    wp = WordPiece.from_file(vocab_path)
    wp.tokenize("Unaffable!")            -> ["una", "##ffa", "##ble", "!"]   (vocab-dependent)
    wp.encode("Hi", "there")             -> ([CLS] hi [SEP] there [SEP] ids, segment ids)
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from scratchdl.errors import UserError
from scratchdl.text.tokens.tokenizer import check_str

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or ch.isspace()


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")  # as `tokenizers` does (Cc Cf Cn Co Cs)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=1 << 14)
def _char_kind(ch: str) -> str:
    """What `ch` becomes: "" (dropped), " " (whitespace), " ch " (CJK ideograph), else ch."""
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD or _is_control(ch):
        return ""
    if _is_whitespace(ch):
        return " "
    return f" {ch} " if _is_cjk(cp) else ch


def _clean(text: str) -> str:
    """Control characters dropped, whitespace as " ", spaces around CJK ideographs."""
    if text.isascii():  # the common case, without a Python loop over characters
        return _ASCII_CONTROL.sub("", text)
    return "".join(_char_kind(ch) for ch in text)


@lru_cache(maxsize=1 << 16)
def _word_parts(word: str, lower: bool) -> tuple[str, ...]:
    """One whitespace-separated word lower-cased, accent-stripped, split at punctuation."""
    if lower:
        word = word.lower()
        word = "".join(
            c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn"
        )
    parts, piece = [], []
    for ch in word:
        if _is_punctuation(ch):
            if piece:
                parts.append("".join(piece))
                piece = []
            parts.append(ch)
        else:
            piece.append(ch)
    if piece:
        parts.append("".join(piece))
    return tuple(parts)


def basic_tokenize(text: str, lower: bool = True) -> list[str]:
    """BERT's basic tokenizer: clean, space CJK, lower-case and strip accents, split punctuation."""
    text = check_str(text, "basic_tokenize")
    return [p for w in _clean(text).split() for p in _word_parts(w, lower)]


class WordPiece:
    """A WordPiece vocabulary (token -> id, one token a line in vocab.txt) and its encoder."""

    def __init__(self, tokens: list[str], lower: bool = True, max_chars: int = 100) -> None:
        missing = [s for s in SPECIALS if s not in tokens]
        if missing:
            raise UserError(
                f"WordPiece vocabulary lacks {', '.join(missing)}: expected a BERT vocab.txt "
                "with the special tokens [PAD] [UNK] [CLS] [SEP] [MASK]"
            )
        self.tokens = list(tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.lower = lower
        self.max_chars = max_chars
        self._pieces: dict[str, list[str]] = {}  # word -> pieces, filled as words are seen
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.ids[s] for s in SPECIALS
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: object) -> WordPiece:
        """Read vocab.txt (one token a line, line number = id)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read WordPiece vocabulary {path}: {e}") from None
        return cls(text.rstrip("\n").split("\n"), **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.tokens)

    def split_word(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one word; ["[UNK]"] if it cannot be split."""
        if len(word) > self.max_chars:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.ids:
                    pieces.append(sub)
                    break
                end -= 1
            else:
                return ["[UNK]"]
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of `text` (no [CLS]/[SEP])."""
        out = []
        for w in basic_tokenize(text, self.lower):
            pieces = self._pieces.get(w)
            if pieces is None:
                pieces = self._pieces[w] = self.split_word(w)
            out += pieces
        return out

    def convert(self, pieces: list[str]) -> list[int]:
        return [self.ids.get(p, self.unk_id) for p in pieces]

    def encode(
        self, text: str, pair: str | None = None, max_len: int | None = None
    ) -> tuple[list[int], list[int]]:
        """[CLS] text [SEP] (pair [SEP]) ids and segment ids (0 for text, 1 for pair).

        With max_len, the longer of the two pieces is cut one token at a time until it fits
        (Hugging Face's "longest_first" truncation); empty text is refused.
        """
        if not check_str(text, "text").strip():
            raise UserError("empty text: expected a sentence with at least one visible character")
        a = self.convert(self.tokenize(text))
        b = self.convert(self.tokenize(pair)) if pair is not None else []
        extra = 3 if pair is not None else 2
        if max_len is not None:
            if max_len < extra + 1:
                raise UserError(f"max_len {max_len} too small: expected at least {extra + 1}")
            while len(a) + len(b) + extra > max_len:
                if len(a) >= len(b):
                    a.pop()
                else:
                    b.pop()
        ids = [self.cls_id, *a, self.sep_id]
        segments = [0] * len(ids)
        if pair is not None:
            ids += [*b, self.sep_id]
            segments += [1] * (len(b) + 1)
        return ids, segments

    def decode(self, ids: list[int]) -> str:
        """Pieces joined back ("##" glued to the previous piece), specials dropped."""
        words: list[str] = []
        for i in ids:
            t = self.tokens[i]
            if t in SPECIALS and t != "[UNK]":
                continue
            if t.startswith("##") and words:
                words[-1] += t[2:]
            else:
                words.append(t)
        return " ".join(words)
