"""Decoding for any autoregressive model through a step function.

A step function advances the model by one token for a batch of B sequences:

    step(tokens: LongTensor [B], state) -> (logits [B, V], new_state)

where state is None (first call) or a tensor / nested tuple of tensors whose batch
dimension is 1, like the hidden state of nn.RNN/GRU ([layers, B, H]) or LSTM ((h, c)).
Beam search reorders it along that dimension with index_select.

`recompute_step(step_full)` turns a model without cached state
(`step_full(ids [B, T]) -> logits [B, V]` for the last position) into a step function whose
state is the token history, so every decoder here also runs without a cache (for
comparison and for models that have none).

All decoders return only the new tokens (not the prefix), stopping before `eos`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from scratchdl.errors import UserError

Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
StepFull = Callable[[torch.Tensor], torch.Tensor]


def map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply fn to every tensor of a (nested tuple/list of) tensor(s); None stays None."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple | list):
        return type(state)(map_state(s, fn) for s in state)
    raise UserError(
        f"decoder state must be None, a tensor or a tuple of tensors, got {type(state).__name__}"
    )


def _reorder(state: Any, origin: torch.Tensor, dim: int) -> Any:
    """Beam i continues beam origin[i]: gather the state rows along the batch dimension."""
    return map_state(state, lambda s: s.index_select(dim, origin))


def recompute_step(step_full: StepFull) -> Step:
    """Step function that reruns step_full on the whole history each call (no cache).

    Its state is the history as a LongTensor [T, B] (batch dimension 1, so beam search
    can reorder it like any hidden state).
    """

    def step(tokens: torch.Tensor, history: torch.Tensor | None):
        history = tokens[None] if history is None else torch.cat([history, tokens[None]])
        return step_full(history.T), history

    return step


def _prefix_list(prefix_ids: Sequence[int] | torch.Tensor, where: str) -> list[int]:
    if isinstance(prefix_ids, torch.Tensor):
        if prefix_ids.dim() != 1:
            raise UserError(
                f"{where}: prefix must be a 1-D tensor of token ids, got shape "
                f"{tuple(prefix_ids.shape)}"
            )
        prefix_ids = prefix_ids.tolist()
    prefix = [int(t) for t in prefix_ids]
    if not prefix:
        raise UserError(f"{where}: the prefix is empty; give at least one token (e.g. [vocab.bos])")
    return prefix


def _check_logits(logits: torch.Tensor, batch: int, where: str) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(
            f"{where}: step must return logits of shape [batch={batch}, vocab], got {got}; "
            f"return the logits of the last position only"
        )
    return logits


def _warm_up(step: Step, prefix: list[int], state: Any, device, where: str):
    """Feed the prefix one token at a time; returns the logits after its last token."""
    logits = None
    for tok in prefix:
        logits, state = step(torch.tensor([tok], device=device), state)
        _check_logits(logits, 1, where)
    return logits, state


def filter_logits(
    logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0
) -> torch.Tensor:
    """logits [B, V] with every token outside the sampling set at -inf.

    top_k > 0 keeps the k largest logits of each row (ties at the k-th value are kept too);
    top_p < 1 keeps the smallest set of most likely tokens whose probability reaches top_p
    (nucleus sampling, Holtzman et al. 2020): a token stays if the probability of the
    tokens strictly more likely than it is below top_p. Both: top-k first, then top-p of
    what is left (renormalised), as Hugging Face's samplers do.
    """
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        probs = F.softmax(logits.float(), dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True)
        before = sorted_p.cumsum(dim=-1) - sorted_p  # mass strictly ahead of each token
        drop_sorted = before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_token(
    logits: torch.Tensor,
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
    top_p: float = 1.0,
) -> torch.Tensor:
    """Pick one token per row of logits [B, V] -> LongTensor [B].

    greedy: argmax. sample: draw from softmax(logits / temperature), restricted to the
    top_k largest logits when top_k > 0 and to the top-p nucleus when top_p < 1
    (filter_logits).
    """
    if strategy == "greedy":
        return logits.argmax(dim=-1)
    scaled = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = F.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def check_sampling(temperature: float, top_k: int, top_p: float, where: str) -> None:
    """One-line UserErrors for sampling settings out of range."""
    if not temperature > 0:
        raise UserError(
            f"{where}: temperature must be > 0, got {temperature!r}; use strategy='greedy' "
            f"for the temperature -> 0 limit"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise UserError(f"{where}: top_k must be an integer >= 0 (0 = off), got {top_k!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 < top_p <= 1:
        raise UserError(f"{where}: top_p must be in (0, 1] (1 = off), got {top_p!r}")


def _check_common(num_tokens: int, where: str) -> None:
    if not isinstance(num_tokens, int) or num_tokens < 0:
        raise UserError(f"{where}: num_tokens must be an integer >= 0, got {num_tokens!r}")


def generate(
    step: Step,
    prefix_ids: Sequence[int] | torch.Tensor,
    num_tokens: int,
    state: Any = None,
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
    eos: int | None = None,
    device: torch.device | str | None = None,
    top_p: float = 1.0,
) -> list[int]:
    """Continue prefix_ids by up to num_tokens tokens (batch of one); returns the new tokens.

    The state is first warmed up on the whole prefix, then each chosen token is fed back.
    strategy "greedy" (argmax) or "sample" (temperature, optional top_k and top_p; pass a seeded
    torch.Generator for reproducible draws). Stops early, without emitting it, at eos.
    """
    where = "generate"
    _check_common(num_tokens, where)
    if strategy not in ("greedy", "sample"):
        raise UserError(f"generate: strategy must be 'greedy' or 'sample', got {strategy!r}")
    check_sampling(temperature, top_k, top_p, where)
    prefix = _prefix_list(prefix_ids, where)
    if num_tokens == 0:
        return []
    with torch.no_grad():
        logits, state = _warm_up(step, prefix, state, device, where)
        out: list[int] = []
        while True:
            tok = next_token(logits, strategy, temperature, top_k, generator, top_p)
            if eos is not None and int(tok) == eos:
                break
            out.append(int(tok))
            if len(out) == num_tokens:
                break
            logits, state = step(tok, state)
            _check_logits(logits, 1, where)
    return out


def beam_search(
    step: Step,
    prefix_ids: Sequence[int] | torch.Tensor,
    num_tokens: int,
    beam_size: int,
    state: Any = None,
    eos: int | None = None,
    length_penalty: float = 0.0,
    device: torch.device | str | None = None,
    state_batch_dim: int = 1,
) -> list[int]:
    """Most likely continuation of prefix_ids found by beam search; returns the new tokens.

    All beams go through the model as one batch. A hypothesis ends when it emits eos (the
    eos is scored but not returned) or reaches num_tokens tokens. Hypotheses are ranked
    by log P / L**length_penalty, L = number of scored tokens (eos included), so
    length_penalty = 0 ranks by log P. Search stops early once no live beam can beat the
    best finished one. Without eos, beam_size=1 is greedy decoding, and
    beam_size >= V**(num_tokens-1) is exact (every sequence is scored).
    """
    where = "beam_search"
    _check_common(num_tokens, where)
    if not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam_search: beam_size must be an integer >= 1, got {beam_size!r}")
    if not length_penalty >= 0:
        raise UserError(f"beam_search: length_penalty must be >= 0, got {length_penalty!r}")
    prefix = _prefix_list(prefix_ids, where)
    if num_tokens == 0:
        return []
    with torch.no_grad():
        logits, state = _warm_up(step, prefix, state, device, where)
        alive = torch.zeros(1, 0, dtype=torch.long, device=logits.device)  # [B, t] tokens
        scores = torch.zeros(1, dtype=torch.float64, device=logits.device)  # [B] log P
        best_norm, best_tokens = float("-inf"), None
        for t in range(1, num_tokens + 1):
            _check_logits(logits, alive.shape[0], where)
            vocab = logits.shape[1]
            if eos is not None and not 0 <= eos < vocab:
                raise UserError(f"beam_search: eos must be in [0, {vocab}), got {eos}")
            cand = scores[:, None] + F.log_softmax(logits.double(), dim=-1)  # [B, V]
            if eos is not None:  # finishing now: length t, the eos included
                finished = cand[:, eos] / t**length_penalty
                i = int(finished.argmax())
                if float(finished[i]) > best_norm:
                    best_norm, best_tokens = float(finished[i]), alive[i].tolist()
                cand[:, eos] = float("-inf")
            top_scores, top_index = cand.reshape(-1).topk(min(beam_size, cand.numel()))
            live = torch.isfinite(top_scores)
            if not bool(live.any()):
                break
            top_scores, top_index = top_scores[live], top_index[live]
            origin, tokens = top_index // vocab, top_index % vocab
            alive = torch.cat([alive[origin], tokens[:, None]], dim=1)
            scores = top_scores
            if t == num_tokens:  # reached the length limit: live beams are candidates too
                norm = scores / t**length_penalty
                i = int(norm.argmax())
                if float(norm[i]) > best_norm:
                    best_norm, best_tokens = float(norm[i]), alive[i].tolist()
                break
            # log P only falls, so a live beam's final score is <= log P / num_tokens**alpha
            if best_norm >= float(scores.max()) / num_tokens**length_penalty:
                break
            state = _reorder(state, origin, state_batch_dim)
            logits, state = step(tokens, state)
    return best_tokens if best_tokens is not None else []
