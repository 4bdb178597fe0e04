"""Recurrent language models (book sec. 8.5-8.6, 9.1-9.4): next-token and cloze (fill-in).

    model = RNNLM(len(vocab), hidden_size=256, cell="lstm", impl="torch")
    logits, state = model(X)              # X [B, T] int64 -> logits [B, T, V]
    loss = lm_loss(logits, Y)             # mean cross-entropy (nats/token); exp() = perplexity
    logits, state = model(X2, detach_state(state))   # truncated BPTT: carry, cut the graph
    generate(model.step, prefix_ids, 100)            # scratchdl.text.decoding

    cloze = ClozeLM(len(vocab), hidden_size=256)
    logits = cloze(X)                     # X [B, T] -> logits [B, T-2, V] for X[:, 1:-1]

RNNLM: input tokens -> one-hot (embed_size=0, the book's choice) or an embedding -> stacked
recurrent layers (scratchdl.nn.recurrent.make_recurrent: cell "rnn" | "gru" | "lstm", impl
"scratch" (from scratch on autograd) or "torch" (nn.RNN/GRU/LSTM, fused kernels)) -> dropout
-> linear decoder to vocabulary logits. Dropout acts between stacked layers (inside the
recurrent module) and on the top layer's output, in training mode only. The recurrent state
is [num_layers, B, H] (LSTM: an (h, c) pair of those), exactly torch's convention; the
model has no maximum sequence length.

ClozeLM: a bidirectional recurrent net that predicts token t from the tokens on both sides of
it and never from itself: the forward direction's output at t-1 (it has read X[..t-1]) and the
backward direction's output at t+1 (it has read X[t+1..]) are concatenated and decoded. So one
pass scores every interior position of a window; the window's first and last tokens have no
context on one side and are not predicted.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.nn.recurrent import make_recurrent

State = Tensor | tuple[Tensor, Tensor]


def _check_ids(X: Any, vocab_size: int, where: str, min_steps: int = 1) -> Tensor:
    if not isinstance(X, Tensor) or X.dim() != 2 or X.dtype != torch.int64:
        got = f"{X.dtype} {tuple(X.shape)}" if isinstance(X, Tensor) else type(X).__name__
        raise UserError(
            f"{where}: expected token ids as an int64 tensor [batch, steps], got {got}; "
            "use vocab.encode(tokens) and add a batch dimension"
        )
    if X.shape[1] < min_steps:
        raise UserError(
            f"{where}: expected at least {min_steps} steps per sequence, got {X.shape[1]}"
        )
    if X.numel() and (int(X.min()) < 0 or int(X.max()) >= vocab_size):
        raise UserError(
            f"{where}: token ids must lie in [0, {vocab_size}), got range "
            f"[{int(X.min())}, {int(X.max())}]; encode with the model's own vocabulary"
        )
    return X


class _TokenInput(nn.Module):
    """ids [T, B] -> inputs [T, B, E]: one-hot (embed_size 0) or a learned embedding."""

    def __init__(self, vocab_size: int, embed_size: int) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise UserError(f"vocab_size must be a positive int, got {vocab_size!r}")
        if not isinstance(embed_size, int) or embed_size < 0:
            raise UserError(f"embed_size must be an int >= 0 (0 = one-hot), got {embed_size!r}")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_size) if embed_size else None
        self.size = embed_size or vocab_size

    def forward(self, ids: Tensor, dtype: torch.dtype) -> Tensor:
        if self.embedding is not None:
            return self.embedding(ids)
        return F.one_hot(ids, self.vocab_size).to(dtype)


class RNNLM(nn.Module):
    """Next-token language model: tokens -> one-hot/embedding -> recurrent -> dropout -> linear.

    vocab_size V, hidden_size H, num_layers L, cell "rnn" | "gru" | "lstm", impl "torch" |
    "scratch", embed_size E (0: one-hot inputs of size V), dropout p (between layers and
    before the decoder). Parameter names: `input.embedding.weight` (if E > 0), `rnn.*` (torch's
    names, e.g. rnn.weight_ih_l0), `decoder.weight` [V, H], `decoder.bias` [V].
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        cell: str = "lstm",
        impl: str = "torch",
        embed_size: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input = _TokenInput(vocab_size, embed_size)
        # dropout between stacked layers only: with one layer torch would warn it does nothing
        self.rnn = make_recurrent(
            cell,
            impl,
            self.input.size,
            hidden_size,
            num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.cell = cell

    def forward(self, X: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """X [B, T] int64, state None (zeros) or [L, B, H] ((h, c) for LSTM).

        Returns logits [B, T, V] (position t predicts token t+1) and the final state.
        """
        _check_ids(X, self.vocab_size, "RNNLM")
        inputs = self.input(X.T, self.decoder.weight.dtype)  # time-major [T, B, E]
        outputs, state = self.rnn(inputs, state)
        logits = self.decoder(self.dropout(outputs))  # [T, B, V]
        return logits.transpose(0, 1), state

    def begin_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """Zero state for `batch_size` sequences (what state=None means)."""
        w = self.decoder.weight
        h = torch.zeros(self.num_layers, batch_size, self.hidden_size, dtype=w.dtype, device=device)
        return (h, h.clone()) if self.cell == "lstm" else h

    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        """Advance by one token (scratchdl.text.decoding's step contract).

        tokens [B] int64 -> (logits [B, V] for the next token, new state).
        """
        if not isinstance(tokens, Tensor) or tokens.dim() != 1:
            got = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise UserError(f"RNNLM.step: expected token ids [batch], got {got}")
        logits, state = self(tokens[:, None], state)
        return logits[:, 0], state


def lm_loss(logits: Tensor, Y: Tensor) -> Tensor:
    """Mean cross-entropy in nats per token of logits [B, T, V] against targets Y [B, T]."""
    if logits.dim() != 3 or logits.shape[:2] != Y.shape:
        raise UserError(
            f"lm_loss: expected logits [B, T, V] and targets [B, T], got "
            f"{tuple(logits.shape)} and {tuple(Y.shape)}"
        )
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))


class ClozeLM(nn.Module):
    """Bidirectional cloze model: predicts each interior token of a window from both sides.

    Same options as RNNLM (cell, impl, embed_size, dropout), with a bidirectional recurrent
    net of num_layers layers. The decoder reads [forward output at t-1, backward output at
    t+1] (size 2H) to predict token t, so the token itself is never seen.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        cell: str = "lstm",
        impl: str = "torch",
        embed_size: int = 0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input = _TokenInput(vocab_size, embed_size)
        self.rnn = make_recurrent(
            cell,
            impl,
            self.input.size,
            hidden_size,
            num_layers,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(2 * hidden_size, vocab_size)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size

    def features(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """X [B, T] -> (left [T-2, B, H], right [T-2, B, H]) for targets X[:, 1:-1]:
        left[i] has read X[:, :i+1], right[i] has read X[:, i+2:]."""
        _check_ids(X, self.vocab_size, "ClozeLM", min_steps=3)
        inputs = self.input(X.T, self.decoder.weight.dtype)  # [T, B, E]
        outputs, _ = self.rnn(inputs)  # [T, B, 2H]: forward half, then backward half
        H = self.hidden_size
        return outputs[:-2, :, :H], outputs[2:, :, H:]

    def decode(self, left: Tensor, right: Tensor) -> Tensor:
        """features -> logits [B, T-2, V] (batch-first again)."""
        logits = self.decoder(self.dropout(torch.cat([left, right], dim=2)))
        return logits.transpose(0, 1)

    def forward(self, X: Tensor) -> Tensor:
        """X [B, T] (T >= 3) -> logits [B, T-2, V], row i predicting X[:, i+1]."""
        return self.decode(*self.features(X))


# -- registry entries: rnn/gru/lstm (next token) and birnn/bigru/bilstm (cloze) --------------
RNN_OPTIONS: dict[str, Any] = {
    "impl": "torch",  # torch (nn.RNN/GRU/LSTM) or scratch (scratchdl.nn.recurrent)
    "embed_size": 0,  # 0: one-hot inputs (the book's choice); > 0: a learned embedding
    "hidden_size": 256,
    "num_layers": 1,
    "dropout": 0.0,  # between layers and before the decoder
}
LM_CELLS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm"}  # model name -> cell
CLOZE_CELLS = {"birnn": "rnn", "bigru": "gru", "bilstm": "lstm"}


def _language_model(cell: str):
    def build(*, vocab_size: int, **options: Any) -> RNNLM:
        return RNNLM(vocab_size, cell=cell, **options)

    build.__doc__ = f"Next-token {cell.upper()} language model (truncated BPTT)."
    return build


def _cloze_model(cell: str):
    def build(*, vocab_size: int, **options: Any) -> ClozeLM:
        return ClozeLM(vocab_size, cell=cell, **options)

    build.__doc__ = f"Bidirectional {cell.upper()} cloze model (fills a blank from both sides)."
    return build


for _name, _cell in LM_CELLS.items():
    register_model(_name, "language-model", options=RNN_OPTIONS)(_language_model(_cell))
for _name, _cell in CLOZE_CELLS.items():
    register_model(_name, "cloze", options=RNN_OPTIONS)(_cloze_model(_cell))
