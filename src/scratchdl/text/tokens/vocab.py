"""A vocabulary: token <-> integer id, with a frequency table, min frequency and reserved tokens.

vocab = Vocab(tokenize(text, "word"), min_freq=2, reserved=["<pad>", "<bos>", "<eos>"])
ids = vocab.encode(["the", "cat"])       # int64 tensor [2]
vocab.decode(ids)                        # ["the", "cat"] (or "<unk>" for rare words)
vocab.save("vocab.json"); Vocab.load("vocab.json")
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from scratchdl.errors import UserError

UNK = "<unk>"
FORMAT = "scratchdl.vocab/1"


def _flatten(tokens: Iterable[str] | Iterable[Sequence[str]]) -> list[str]:
    """A flat list of tokens from a flat iterable or an iterable of token lists (e.g. lines)."""
    items = list(tokens)
    if items and isinstance(items[0], list | tuple):
        if not all(isinstance(line, list | tuple) for line in items):
            raise UserError("Vocab: got a mix of tokens and token lists; pass one kind")
        items = [t for line in items for t in line]
    bad = next((t for t in items if not isinstance(t, str)), None)
    if bad is not None:
        raise UserError(
            f"Vocab: expected str tokens (or lists of them), got {type(bad).__name__} {bad!r}; "
            "tokenize the text first (scratchdl.text.tokens.tokenizer)"
        )
    return items


class Vocab:
    """token <-> id. Id 0 is always the unknown token "<unk>"; then `reserved` in the given
    order; then tokens with count >= min_freq, most frequent first (ties: first appearance).

    tokens: a flat iterable of str, or an iterable of token lists (counted together).
    token_freqs: every counted token with its count, most frequent first (ties: first
    appearance), including those below min_freq, which map to <unk>.
    """

    def __init__(
        self,
        tokens: Iterable[str] | Iterable[Sequence[str]] = (),
        min_freq: int = 1,
        reserved: Sequence[str] = (),
    ) -> None:
        if isinstance(tokens, str):
            raise UserError(
                "Vocab: expected a list of tokens, got one str; call tokenize(text) first"
            )
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 0:
            raise UserError(f"Vocab: min_freq must be an int >= 0, got {min_freq!r}")
        reserved = list(reserved)
        if any(not isinstance(t, str) for t in reserved) or len(set(reserved)) != len(reserved):
            raise UserError(f"Vocab: reserved must be distinct str tokens, got {reserved!r}")
        counts = Counter(_flatten(tokens))  # a Counter keeps first-appearance order
        # sorted() is stable, so equal counts keep their order of first appearance
        self.token_freqs: list[tuple[str, int]] = sorted(counts.items(), key=lambda kv: -kv[1])
        self.min_freq = min_freq
        self.reserved = [t for t in reserved if t != UNK]
        specials = [UNK, *self.reserved]
        taken = set(specials)
        frequent = [t for t, c in self.token_freqs if c >= min_freq and t not in taken]
        self._set_tokens(specials + frequent)

    def _set_tokens(self, idx_to_token: list[str]) -> None:
        self.idx_to_token: list[str] = idx_to_token
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(idx_to_token)}

    # -- lookup ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, token: str | Sequence[str]) -> int | list[int]:
        """Id of `token` (unknown -> 0); a list or tuple of tokens gives a list of ids."""
        if isinstance(token, list | tuple):
            return [self.token_to_idx.get(t, 0) for t in token]
        return self.token_to_idx.get(token, 0)

    def __contains__(self, token: object) -> bool:
        return token in self.token_to_idx

    def __repr__(self) -> str:
        head = ", ".join(self.idx_to_token[:8])
        return f"Vocab({len(self)} tokens: {head}{', ...' if len(self) > 8 else ''})"

    @property
    def unk(self) -> int:
        return 0

    def _special(self, token: str) -> int:
        if token not in self.reserved:
            raise UserError(
                f"Vocab has no {token} token: build it with reserved=[..., {token!r}] "
                f"(reserved now: {self.reserved})"
            )
        return self.token_to_idx[token]

    @property
    def pad(self) -> int:
        return self._special("<pad>")

    @property
    def bos(self) -> int:
        return self._special("<bos>")

    @property
    def eos(self) -> int:
        return self._special("<eos>")

    # -- encode / decode ---------------------------------------------------------------------
    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """Ids of `tokens` as int64 [len(tokens)]; unknown tokens -> 0. A str is its characters."""
        if not isinstance(tokens, str | list | tuple):
            tokens = list(tokens)
        get = self.token_to_idx.get
        return torch.tensor([get(t, 0) for t in tokens], dtype=torch.int64)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Tokens of `ids` (a 1-D tensor or any iterable of ints)."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() > 1 or ids.is_floating_point() or ids.is_complex():
                raise UserError(
                    f"Vocab.decode: expected a 1-D integer tensor, got {ids.dtype} "
                    f"{tuple(ids.shape)}; decode one sequence at a time"
                )
            ids = ids.reshape(-1).tolist()
        out = []
        n = len(self.idx_to_token)
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
                raise UserError(f"Vocab.decode: id {i!r} is not an int in 0..{n - 1}")
            out.append(self.idx_to_token[i])
        return out

    def to_tokens(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Same as decode (the book's name)."""
        return self.decode(ids)

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-able dict that from_dict turns back into an identical Vocab."""
        return {
            "format": FORMAT,
            "idx_to_token": list(self.idx_to_token),
            "reserved": list(self.reserved),
            "min_freq": self.min_freq,
            "token_freqs": [[t, c] for t, c in self.token_freqs],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        """Rebuild a Vocab saved with to_dict; UserError if `d` is not one."""
        try:
            if d.get("format") != FORMAT:
                raise ValueError(f"format is {d.get('format')!r}, expected {FORMAT!r}")
            tokens, reserved = list(d["idx_to_token"]), list(d["reserved"])
            freqs = [(str(t), int(c)) for t, c in d["token_freqs"]]
            min_freq = int(d["min_freq"])
            if not tokens or tokens[0] != UNK or tokens[1 : 1 + len(reserved)] != reserved:
                raise ValueError(f"idx_to_token must start with {UNK} and the reserved tokens")
            if len(set(tokens)) != len(tokens) or not all(isinstance(t, str) for t in tokens):
                raise ValueError("idx_to_token must hold distinct strings")
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise UserError(
                f"not a saved scratchdl Vocab ({e}); save one with Vocab.save"
            ) from None
        vocab = cls.__new__(cls)
        vocab.token_freqs, vocab.min_freq, vocab.reserved = freqs, min_freq, reserved
        vocab._set_tokens(tokens)
        return vocab

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as a UTF-8 JSON file (atomically)."""
        from scratchdl.data.cache import atomic_write_bytes

        data = json.dumps(self.to_dict(), ensure_ascii=False, indent=0)
        atomic_write_bytes(path, data.encode("utf-8"))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a file written by save; UserError if it is missing or not a saved Vocab."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(
                f"no vocabulary file at {path}: expected a JSON file from Vocab.save"
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{path} is not a vocabulary JSON file ({e})") from None
        if not isinstance(d, dict):
            raise UserError(f"{path} is not a vocabulary JSON file (top level is not an object)")
        return cls.from_dict(d)
