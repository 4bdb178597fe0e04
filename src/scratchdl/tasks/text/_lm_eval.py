"""Evaluation and sampling for the language-model tasks (scratchdl.tasks.text.language_model and
scratchdl.tasks.text.ngram): held-out perplexity and accuracy (heldout_scores), cloze scoring
(cloze_windows, cloze_scores) and the sample.txt continuations ([generate] table:
generation_prefix, write_samples; ngram_step adapts an n-gram model).

Perplexity = exp(mean negative log-likelihood in nats per token) of the held-out split read as
one stream: the n-gram model scores every token given all tokens before it (only the last
order-1 matter); the recurrent model reads the split with its state carried over the whole
split. For speed the split is cut into data.eval_batch_size rows read side by side; each row
starts data.eval_warmup tokens early and does not score those, so every token but the first
eval_warmup of the split is predicted with at least eval_warmup tokens of context, as in a
single pass. Accuracy = fraction of tokens whose most likely prediction is right.

Cloze: every position with at least `context` tokens on both sides is predicted once, from a
window holding at least `context` tokens of the true text on each side of it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models.text.ngram import NGramLM
from scratchdl.models.text.rnnlm import RNNLM, ClozeLM
from scratchdl.text.decoding import beam_search, generate, recompute_step
from scratchdl.text.lm_data import LMData, _positive_int
from scratchdl.text.tokens.tokenizer import clean_text, tokenize

DEFAULT_PREFIX = "it is a truth universally acknowledged"
GENERATE_DEFAULTS: dict[str, Any] = {
    "prefix": DEFAULT_PREFIX,  # "" or (on a text that lacks its tokens) the default: from text
    "num_tokens": 200,
    "temperature": 0.8,  # sampling
    "top_k": 0,  # sampling: only the k most likely tokens (0: all)
    "beam_size": 4,
    "seed": 0,  # of the sampling generator
}

# ----------------------------------------------------------------------------- held-out scores


def _stream_rows(ids: Tensor, rows: int, warmup: int) -> tuple[Tensor, Tensor, Tensor]:
    """Lay ids [N] out as R rows read side by side: inputs X, targets Y, scored mask, [R, W].

    Target j (1 <= j < N) is predicted from ids[:j]. Row r scores the targets of a contiguous
    stretch of L = ceil((N-1)/R) inputs and starts up to `warmup` inputs early (not scored).
    Rows are left-aligned and padded on the right; padding is never scored.
    """
    M = len(ids) - 1  # number of targets
    L = -(-M // max(1, min(rows, M)))
    R = -(-M // L)
    starts = [max(0, r * L - warmup) for r in range(R)]
    ends = [min((r + 1) * L, M) for r in range(R)]
    width = max(e - s for s, e in zip(starts, ends, strict=True))
    X = torch.zeros(R, width, dtype=torch.int64)
    Y = torch.zeros(R, width, dtype=torch.int64)
    mask = torch.zeros(R, width, dtype=torch.bool)
    for r, (s, e) in enumerate(zip(starts, ends, strict=True)):
        X[r, : e - s] = ids[s:e]
        Y[r, : e - s] = ids[s + 1 : e + 1]
        mask[r, r * L - s : e - s] = True
    return X, Y, mask


@torch.no_grad()
def heldout_scores(
    model: RNNLM,
    ids: Tensor,
    rows: int = 64,
    num_steps: int = 256,
    warmup: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Perplexity, mean loss (nats/token) and accuracy of next-token prediction on ids [N].

    The state is carried along each row (see _stream_rows); windows of num_steps columns.
    """
    if len(ids) < 2:
        raise UserError(f"cannot score a held-out split of {len(ids)} tokens: need at least 2")
    was_training = model.training
    model.eval()
    X, Y, mask = (t.to(device) for t in _stream_rows(ids, rows, warmup))
    nll, correct, state = 0.0, 0, None
    for c in range(0, X.shape[1], num_steps):
        cols = slice(c, c + num_steps)
        logits, state = model(X[:, cols], state)
        m = mask[:, cols]
        losses = F.cross_entropy(logits.transpose(1, 2), Y[:, cols], reduction="none")
        nll += float(losses[m].double().sum())
        correct += int((logits.argmax(-1) == Y[:, cols])[m].sum())
    model.train(was_training)
    count = int(mask.sum())
    return {"loss": nll / count, "perplexity": math.exp(nll / count), "accuracy": correct / count}


# ----------------------------------------------------------------------------- generation


def generation_prefix(data: LMData, prefix: str) -> tuple[list[int], str]:
    """(ids, note) of generate.prefix. "" or the default prefix on a text whose vocabulary
    cannot encode it: the start of the training text instead (note says so). Any other prefix
    the vocabulary cannot encode is a UserError (it would silently become <unk>)."""
    if prefix and prefix != DEFAULT_PREFIX:
        return data.encode_prefix(prefix), ""
    if prefix:
        try:
            return data.encode_prefix(prefix), ""
        except UserError:
            pass
    n = len(tokenize_like(DEFAULT_PREFIX, data))
    ids = data.prefix_from_text(n)
    if not ids:
        raise UserError("the training text has no known tokens to start generation from")
    why = "empty" if not prefix else f"{prefix!r} has tokens the vocabulary lacks"
    return ids, f"taken from the training text: generate.prefix {why}"


def tokenize_like(text: str, data: LMData) -> list[str]:
    return tokenize(clean_text(text, data.clean), data.level)


def write_samples(
    run_dir: Path,
    data: LMData,
    step: Any,
    prefix: list[int],
    gcfg: dict[str, Any],
    device: torch.device | str = "cpu",
    note: str = "",
) -> dict[str, str]:
    """Continue the prefix greedily, by sampling and by beam search; write sample.txt."""
    n = _positive_int(gcfg["num_tokens"], "generate.num_tokens", 0)
    gen = torch.Generator().manual_seed(int(gcfg["seed"]))
    out = {
        "greedy": generate(step, prefix, n, device=device),
        "sample": generate(
            step,
            prefix,
            n,
            strategy="sample",
            temperature=float(gcfg["temperature"]),
            top_k=int(gcfg["top_k"]),
            generator=gen,
            device=device,
            top_p=float(gcfg.get("top_p", 1.0)),
        ),
        "beam": beam_search(step, prefix, n, int(gcfg["beam_size"]), device=device),
    }
    texts = {k: data.join(v) for k, v in out.items()}
    heads = {
        "greedy": "greedy",
        "sample": f"sample (temperature {gcfg['temperature']}, top_k {gcfg['top_k']}"
        + (f", top_p {gcfg['top_p']})" if "top_p" in gcfg else ")"),
        "beam": f"beam search (beam_size {gcfg['beam_size']})",
    }
    lines = [f"prefix: {data.join(prefix)}" + (f"  ({note})" if note else ""), ""]
    for k, text in texts.items():
        lines += [
            f"{heads[k]}:",
            data.join(prefix) + ("" if data.level == "char" else " ") + text,
            "",
        ]
    (Path(run_dir) / "sample.txt").write_text("\n".join(lines), encoding="utf-8")
    return texts


def ngram_step(model: NGramLM):
    """A generate/beam_search step function for an n-gram model (log-probabilities as logits)."""

    def step_full(ids: Tensor) -> Tensor:
        return torch.stack([model.prob(row.cpu()).log() for row in ids])

    return recompute_step(step_full)


# ----------------------------------------------------------------------------- cloze scores


def cloze_windows(ids: Tensor, span: int, context: int) -> list[Tensor]:
    """Windows of ids [N] that together score every position j with context <= j < N-context
    exactly once: full windows of span + 2*context tokens (stacked, [K, span + 2*context])
    scoring their middle `span` positions, and possibly one shorter last window [1, W]
    scoring all but its first and last `context` positions."""
    N, W = len(ids), span + 2 * context
    if N < 2 * context + 1:
        raise UserError(
            f"cloze: a split of {N} tokens has no position with {context} tokens on both "
            "sides; lower cloze.context or hold out more text"
        )
    out = []
    full = (N - 2 * context) // span if N >= W else 0
    if full:
        out.append(ids.unfold(0, W, span)[:full])
    if context + full * span < N - context:  # the rest, scored by one shorter window
        out.append(ids[full * span :][None])
    return out


@torch.no_grad()
def cloze_scores(
    model: ClozeLM,
    probe: nn.Linear | None,
    ids: Tensor,
    span: int,
    context: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Cloze accuracy / loss / perplexity on ids [N] (see cloze_windows); with a probe, also
    the left-only probe's accuracy and loss on the same positions."""
    was_training = model.training
    model.eval()
    nll = probe_nll = 0.0
    correct = probe_correct = count = 0
    for windows in cloze_windows(ids, span, context):
        for i in range(0, len(windows), batch_size):
            X = windows[i : i + batch_size].to(device)
            left, right = model.features(X)
            pos = slice(context - 1, X.shape[1] - context - 1)  # feature rows of scored tokens
            target = X[:, context : X.shape[1] - context]
            logits = model.decode(left, right)[:, pos]
            nll += float(F.cross_entropy(logits.transpose(1, 2), target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            count += target.numel()
            if probe is not None:
                p_logits = probe(left).transpose(0, 1)[:, pos]
                probe_nll += float(
                    F.cross_entropy(p_logits.transpose(1, 2), target, reduction="sum")
                )
                probe_correct += int((p_logits.argmax(-1) == target).sum())
    model.train(was_training)
    out = {"loss": nll / count, "perplexity": math.exp(nll / count), "accuracy": correct / count}
    if probe is not None:
        out.update(left_only_loss=probe_nll / count, left_only_accuracy=probe_correct / count)
    return out
