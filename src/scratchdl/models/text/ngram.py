"""Counting n-gram language model with interpolated Kneser-Ney or add-k smoothing.

Works on token ids (characters or words, via a Vocab). Counting is done with numpy: every
n-gram gets a dense integer id, built one order at a time as
`key = id(prefix (n-1)-gram) * vocab_size + last token`, then `np.unique`. Keys of one
order are sorted, so all extensions of one context sit in one contiguous slice, which
makes the full next-token distribution of a context two `searchsorted` calls away, and
held-out perplexity a handful of vectorised lookups per order (no Python loop per token).

Smoothing (standard interpolated Kneser-Ney, Chen & Goodman 1998, one discount per order):

    P_n(w | h) = max(c_n(h w) - D_n, 0) / c_n(h .)  +  D_n * N1+(h .) / c_n(h .) * P_{n-1}(w | h')

where h' drops the oldest token of h, P_0 is uniform over the vocabulary, c_n is the raw
count at the highest order and the continuation count N1+(. h w) (number of distinct left
neighbours) at lower orders, c_n(h .) is the sum of c_n over all w, and N1+(h .) is the
number of w with c_n(h w) > 0. A context never seen (c_n(h .) = 0) gives P_n = P_{n-1}.
D_n = n1 / (n1 + 2 n2) from the counts-of-counts of the counts that order uses (0.5 if
n1 = 0), unless a discount is given. The first order-1 tokens of a sequence have a shorter
history; their highest order uses raw counts of that shorter order (with its own D).

Add-k: P(w | h) = (c(h w) + k) / (c(h .) + k V) with h the last order-1 tokens (shorter
at the start of a sequence); an unseen context gives the uniform distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model

FORMAT = "scratchdl.ngram/1"


def _as_id_array(ids: Any, name: str) -> np.ndarray:
    """Token ids (list, tuple, numpy array or 1-D tensor) -> int64 numpy array."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1 or ids.dtype.is_floating_point:
            raise UserError(
                f"{name}: expected a 1-D integer tensor of token ids, got {ids.dtype} "
                f"shape {tuple(ids.shape)}; pass vocab.encode(tokens)"
            )
        return ids.detach().cpu().numpy().astype(np.int64, copy=False)
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise UserError(
            f"{name}: expected a flat sequence of integer token ids, got array of dtype "
            f"{arr.dtype} and shape {arr.shape}; encode tokens with a Vocab first"
        )
    return arr.astype(np.int64, copy=False)


def _estimate_discount(counts: np.ndarray) -> float:
    """D = n1 / (n1 + 2 n2) (Ney et al. 1994); 0.5 when no n-gram was seen exactly once."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    return n1 / (n1 + 2 * n2) if n1 > 0 else 0.5


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[index] as float64, 0 where index is -1 (unseen)."""
    if len(values) == 0:
        return np.zeros(len(index))
    return np.where(index >= 0, values[np.maximum(index, 0)], 0).astype(np.float64)


class _Level:
    """Counts of one order n: sorted keys, raw counts, continuation counts, context sums."""

    def __init__(
        self,
        keys: np.ndarray,
        count: np.ndarray,
        cont: np.ndarray | None,
        num_contexts: int,
        vocab_size: int,
    ) -> None:
        self.keys, self.count, self.cont = keys, count, cont
        context = keys // vocab_size  # dense id of the (n-1)-gram prefix
        self.raw_total = np.bincount(context, weights=count, minlength=num_contexts)
        self.raw_types = np.bincount(context, minlength=num_contexts).astype(np.float64)
        if cont is not None:
            self.cont_total = np.bincount(context, weights=cont, minlength=num_contexts)
            self.cont_types = np.bincount(context, weights=cont > 0, minlength=num_contexts)

    def lookup(self, context: np.ndarray, last: np.ndarray, vocab_size: int) -> np.ndarray:
        """Dense id of n-gram (context, last), or -1 where unseen (context -1 = unseen)."""
        valid = (context >= 0) & (last >= 0) & (last < vocab_size)
        key = np.where(valid, context * vocab_size + last, -1)
        pos = np.searchsorted(self.keys, key)
        pos_clipped = np.minimum(pos, max(len(self.keys) - 1, 0))
        found = valid & (pos < len(self.keys))
        if len(self.keys):
            found &= self.keys[pos_clipped] == key
        return np.where(found, pos_clipped, -1)


class NGramLM:
    """n-gram language model over token ids 0..vocab_size-1.

    order: n (1 = unigram). smoothing: "kn" (interpolated Kneser-Ney) or "addk".
    k: the add-k pseudo-count (> 0). discount: None (estimate D per order), one float in
    (0, 1] for all orders, or a list of `order` floats (order 1 first).
    """

    def __init__(
        self,
        order: int,
        smoothing: str = "kn",
        k: float = 1.0,
        discount: float | Sequence[float] | None = None,
    ) -> None:
        if not isinstance(order, int) or order < 1:
            raise UserError(f"NGramLM order must be an integer >= 1, got {order!r}")
        if smoothing not in ("kn", "addk"):
            raise UserError(f"NGramLM smoothing must be 'kn' or 'addk', got {smoothing!r}")
        if smoothing == "addk" and not k > 0:
            raise UserError(f"NGramLM add-k needs k > 0 (k = 0 is unsmoothed), got k={k!r}")
        if discount is not None:
            ds = [discount] * order if isinstance(discount, int | float) else list(discount)
            if len(ds) != order or not all(0 < d <= 1 for d in ds):
                raise UserError(
                    f"NGramLM discount must be one float or {order} floats in (0, 1], "
                    f"got {discount!r}"
                )
        self.order, self.smoothing, self.k, self.discount = order, smoothing, float(k), discount
        self.vocab_size = 0
        self.levels: list[_Level] = []  # levels[n-1] holds order n

    # ---------------------------------------------------------------- training
    def fit(self, ids: torch.Tensor | Sequence[int], vocab_size: int) -> NGramLM:
        """Count all n-grams of orders 1..order in `ids` (1-D, values in [0, vocab_size))."""
        tokens = _as_id_array(ids, "NGramLM.fit ids")
        if vocab_size < 1:
            raise UserError(f"NGramLM.fit: vocab_size must be >= 1, got {vocab_size}")
        if len(tokens) == 0:
            raise UserError("NGramLM.fit: got an empty token sequence; pass training text ids")
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise UserError(
                f"NGramLM.fit: token ids must lie in [0, {vocab_size}), got range "
                f"[{tokens.min()}, {tokens.max()}]; pass vocab_size=len(vocab)"
            )
        if len(tokens) * vocab_size >= 2**62:
            raise UserError("NGramLM.fit: corpus length x vocab_size overflows int64 keys")
        self.vocab_size = vocab_size
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        conts: list[np.ndarray | None] = [None] * self.order  # highest order: raw counts only
        prev_ids = np.zeros(len(tokens), dtype=np.int64)  # id of the empty prefix
        for n in range(1, self.order + 1):
            m = max(len(tokens) - n + 1, 0)  # number of n-gram positions
            key = prev_ids[:m] * vocab_size + tokens[n - 1 :]
            uniq, dense, count = np.unique(key, return_inverse=True, return_counts=True)
            keys.append(uniq.astype(np.int64))
            counts.append(count.astype(np.int64))
            if n >= 2:  # continuation counts of order n-1: distinct left neighbours
                suffix = np.empty(len(uniq), dtype=np.int64)
                suffix[dense.reshape(-1)] = prev_ids[1 : m + 1]
                conts[n - 2] = np.bincount(suffix, minlength=len(keys[n - 2])).astype(np.int64)
            prev_ids = dense.reshape(-1).astype(np.int64)
        self._build(keys, counts, conts)
        return self

    def _build(self, keys: list, counts: list, conts: list) -> None:
        V = self.vocab_size
        self.levels = []
        for n in range(1, self.order + 1):
            num_contexts = 1 if n == 1 else len(keys[n - 2])
            self.levels.append(_Level(keys[n - 1], counts[n - 1], conts[n - 1], num_contexts, V))
        # discounts: d_raw[n-1] for raw counts of order n, d_cont[n-1] for continuation counts
        if self.discount is None:
            self.d_raw = [_estimate_discount(lv.count) for lv in self.levels]
            self.d_cont = [
                _estimate_discount(lv.cont[lv.cont > 0]) if lv.cont is not None else None
                for lv in self.levels
            ]
        else:
            ds = self.discount
            ds = [ds] * self.order if isinstance(ds, int | float) else list(ds)
            self.d_raw, self.d_cont = [float(d) for d in ds], [float(d) for d in ds]

    @property
    def discounts(self) -> list[float]:
        """D per order (order 1 first) used by full-history predictions."""
        self._check_fitted()
        return [
            d if lv.cont is not None else r
            for d, r, lv in zip(self.d_cont, self.d_raw, self.levels, strict=True)
        ]

    def _check_fitted(self) -> None:
        if not self.levels:
            raise UserError("NGramLM: the model is not fitted; call .fit(ids, vocab_size) first")

    # ------------------------------------------------------------- prediction
    def _stats(self, n: int, gram: np.ndarray, context: np.ndarray, top: np.ndarray):
        """Numerator, context total, context types and discount at order n (vectorised).

        gram, context: dense ids (-1 = unseen) of the n-gram and of its (n-1)-token context;
        top: where order n is the highest one for that token (raw counts), else continuation.
        """
        lv = self.levels[n - 1]
        raw = (
            _gather(lv.count, gram),
            _gather(lv.raw_total, context),
            _gather(lv.raw_types, context),
        )
        if lv.cont is None or self.smoothing == "addk":
            return (*raw, self.d_raw[n - 1])
        cont = (
            _gather(lv.cont, gram),
            _gather(lv.cont_total, context),
            _gather(lv.cont_types, context),
        )
        d = np.where(top, self.d_raw[n - 1], self.d_cont[n - 1])
        return (*(np.where(top, r, c) for r, c in zip(raw, cont, strict=True)), d)

    def _token_log_probs(self, tokens: np.ndarray) -> np.ndarray:
        """log P(tokens[j] | tokens[:j]) for every j, float64 [len(tokens)]."""
        V, N, L = self.vocab_size, self.order, len(tokens)
        # gram[n][i] = dense id of the n-gram tokens[i:i+n] (-1 if unseen); gram[0] = empty
        gram = [np.zeros(L, dtype=np.int64)]
        for n in range(1, N + 1):
            m = max(L - n + 1, 0)
            gram.append(self.levels[n - 1].lookup(gram[n - 1][:m], tokens[n - 1 :], V))
        j = np.arange(L)
        p = np.full(L, 1.0 / V)
        for n in range(1, N + 1):
            rows = j[n - 1 :]  # targets whose history has at least n-1 tokens
            if len(rows) == 0:
                break
            start = rows - (n - 1)
            top = (n == N) | (rows == n - 1)
            num, total, types, d = self._stats(n, gram[n][start], gram[n - 1][start], top)
            if self.smoothing == "addk":
                p[rows] = np.where(top, (num + self.k) / (total + self.k * V), p[rows])
                continue
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            mixed = np.maximum(num - d, 0) / safe + d * types / safe * p[rows]
            p[rows] = np.where(seen, mixed, p[rows])
        return np.log(p)

    def prob(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Next-token distribution after `context`: float64 [vocab_size], sums to 1.

        Only the last order-1 ids of the context matter; ids outside the vocabulary are
        allowed and count as never seen.
        """
        self._check_fitted()
        V, N = self.vocab_size, self.order
        ctx = _as_id_array(context, "NGramLM.prob context")
        ctx = ctx[max(len(ctx) - (N - 1), 0) :]
        m = len(ctx)
        p = np.full(V, 1.0 / V)
        for n in range(1, m + 2):
            hist = ctx[m - (n - 1) :]  # the last n-1 context tokens
            ctx_id = np.zeros(1, dtype=np.int64)
            for i, tok in enumerate(hist):
                ctx_id = self.levels[i].lookup(ctx_id, np.array([tok]), V)
            top = n == m + 1
            if self.smoothing == "addk" and not top:
                continue
            p = self._mix_all(n, int(ctx_id[0]), top, p)
        return torch.from_numpy(p)

    def _mix_all(self, n: int, ctx_id: int, top: bool, lower: np.ndarray) -> np.ndarray:
        """Order-n distribution over all tokens for one context, given the lower order's."""
        lv, V = self.levels[n - 1], self.vocab_size
        if ctx_id < 0:
            return lower if self.smoothing == "kn" else np.full(V, 1.0 / V)
        lo, hi = np.searchsorted(lv.keys, [ctx_id * V, (ctx_id + 1) * V])
        nexts = lv.keys[lo:hi] - ctx_id * V
        use_raw = top or lv.cont is None or self.smoothing == "addk"
        nums = (lv.count if use_raw else lv.cont)[lo:hi].astype(np.float64)
        total = float((lv.raw_total if use_raw else lv.cont_total)[ctx_id])
        types = float((lv.raw_types if use_raw else lv.cont_types)[ctx_id])
        if self.smoothing == "addk":
            p = np.full(V, self.k / (total + self.k * V))
            p[nexts] += nums / (total + self.k * V)
            return p
        if total == 0:
            return lower
        d = self.d_raw[n - 1] if use_raw else self.d_cont[n - 1]
        p = d * types / total * lower
        p[nexts] += np.maximum(nums - d, 0) / total
        return p

    def log_prob_sequence(self, ids: torch.Tensor | Sequence[int]) -> float:
        """Natural-log probability of the whole sequence; token j is conditioned on ids[:j]."""
        self._check_fitted()
        tokens = _as_id_array(ids, "NGramLM.log_prob_sequence ids")
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise UserError(
                f"NGramLM: token ids must lie in [0, {self.vocab_size}), got range "
                f"[{tokens.min()}, {tokens.max()}]; map unknown tokens to <unk> with the Vocab"
            )
        return float(self._token_log_probs(tokens).sum())

    def perplexity(self, ids: torch.Tensor | Sequence[int]) -> float:
        """exp(-mean log P) over the tokens of a (held-out) sequence."""
        n = len(_as_id_array(ids, "NGramLM.perplexity ids"))
        if n == 0:
            raise UserError("NGramLM.perplexity: got an empty sequence; pass at least one token")
        return math.exp(-self.log_prob_sequence(ids) / n)

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        """Counts and settings as a dict of tensors/numbers (torch.save, weights_only-safe)."""
        self._check_fitted()
        discount = self.discount
        if discount is not None and not isinstance(discount, int | float):
            discount = [float(d) for d in discount]
        return {
            "format": FORMAT,
            "order": self.order,
            "smoothing": self.smoothing,
            "k": self.k,
            "discount": discount,
            "vocab_size": self.vocab_size,
            "levels": [
                {
                    "keys": torch.from_numpy(lv.keys),
                    "count": torch.from_numpy(lv.count),
                    "cont": None if lv.cont is None else torch.from_numpy(lv.cont),
                }
                for lv in self.levels
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> NGramLM:
        """Rebuild a fitted model from `to_dict()` output."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise UserError(f"NGramLM.from_dict: expected format {FORMAT!r}, got {got!r}")
        model = cls(d["order"], d["smoothing"], d["k"], d["discount"])
        model.vocab_size = int(d["vocab_size"])
        if len(d["levels"]) != model.order:
            raise UserError(
                f"NGramLM.from_dict: expected {model.order} levels, got {len(d['levels'])}"
            )
        keys = [lv["keys"].numpy() for lv in d["levels"]]
        counts = [lv["count"].numpy() for lv in d["levels"]]
        conts = [None if lv["cont"] is None else lv["cont"].numpy() for lv in d["levels"]]
        model._build(keys, counts, conts)
        return model


@register_model("ngram", "ngram", options={})
def ngram(*, order: int, discount: float | None) -> NGramLM:
    """Interpolated Kneser-Ney n-gram model (order and discount, None = estimated, come from
    the [ngram] search, not from [model])."""
    return NGramLM(order, "kn", discount=discount)
