"""GRU encoder-decoder with Bahdanau (additive) attention (Bahdanau et al. 2015; book sec. 11.4).

    model = BahdanauSeq2Seq(len(src_vocab), len(tgt_vocab), embed_size=256, hidden_size=256)
    logits = model(src, src_len, teacher_forcing_input(tgt, bos))   # [B, T, V]
    model.attention_weights                                          # [B, T, S] of that call

Instead of one context vector for the whole sentence, each decoder step queries the encoder
outputs with its previous top-layer hidden state; the additive attention's weights over the
source tokens (padding masked out) give that step's context, fed to the GRU with the token's
embedding. The weights are the alignment that the heat map shows.

The keys' projection W_k(encoder outputs) does not change during decoding, so it is computed
once per sentence and `attend` scores it against each step's query with the same parameters
and maths as scratchdl.nn.attention.AdditiveAttention (tests check they agree).
Decoding protocol: start/advance (see seq2seq.py), so greedy_decode / beam_translate apply.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models.text.seq2seq import SEQ2SEQ_OPTIONS, Seq2SeqEncoder, _check_batch
from scratchdl.nn.attention import AdditiveAttention, masked_softmax
from scratchdl.nn.recurrent import make_recurrent


class BahdanauSeq2Seq(nn.Module):
    """Encoder GRU; decoder GRU whose input is [embedding, attention context]."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_size: int = 256,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        impl: str = "torch",
        max_len: int = 32,
    ) -> None:
        super().__init__()
        if max_len < 1:
            raise UserError(f"BahdanauSeq2Seq: max_len must be >= 1, got {max_len}")
        self.encoder = Seq2SeqEncoder(
            src_vocab_size, embed_size, hidden_size, num_layers, dropout, impl
        )
        self.attention = AdditiveAttention(hidden_size, hidden_size, hidden_size, dropout)
        self.embedding = nn.Embedding(tgt_vocab_size, embed_size)
        self.rnn = make_recurrent(
            "gru", impl, embed_size + hidden_size, hidden_size, num_layers, dropout=dropout
        )
        self.dense = nn.Linear(hidden_size, tgt_vocab_size)
        self.max_len = max_len
        self.attention_weights: torch.Tensor | None = None

    def attend(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(context [B, H], weights [B, S]) for query [B, H] and pre-projected keys [B, S, h]."""
        a = self.attention
        scores = a.w_v(torch.tanh(a.W_q(query).unsqueeze(1) + keys)).squeeze(-1)  # [B, S]
        weights = masked_softmax(scores.unsqueeze(1), src_len).squeeze(1)
        return (a.dropout(weights).unsqueeze(1) @ values).squeeze(1), weights

    def start(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hidden [B, L, H], keys [B, S, h], values [B, S, H], src_len [B])."""
        _check_batch("BahdanauSeq2Seq source", src, src_len)
        if len(src_len) and src_len.max() > self.max_len:
            raise UserError(
                f"a source sentence has {src_len.max().item()} tokens with <eos>, more than "
                f"the model's max_len {self.max_len}: shorten it or train with a larger max_len"
            )
        outputs, state = self.encoder(src, src_len)  # [S, B, H], [L, B, H]
        values = outputs.transpose(0, 1)
        return state.transpose(0, 1), self.attention.W_k(values), values, src_len

    def _steps(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """Decoder over tokens [B, T] one step at a time -> (outputs [B,T,H], state, weights)."""
        hidden, keys, values, src_len = state
        hidden = hidden.transpose(0, 1).contiguous()  # [L, B, H]
        embedded = self.embedding(tokens)  # [B, T, E]
        outputs, weights = [], []
        for t in range(tokens.shape[1]):
            context, w = self.attend(hidden[-1], keys, values, src_len)
            x = torch.cat([embedded[:, t], context], dim=-1).unsqueeze(0)  # [1, B, E + H]
            out, hidden = self.rnn(x, hidden)
            outputs.append(out[0])
            weights.append(w)
        state = (hidden.transpose(0, 1), keys, values, src_len)
        return torch.stack(outputs, 1), state, torch.stack(weights, 1)

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits [B, T, V]; self.attention_weights [B, T, S] (detached)."""
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise UserError(
                f"BahdanauSeq2Seq: expected decoder input [{src.shape[0]}, steps], "
                f"got {tuple(tgt_in.shape)}"
            )
        outputs, _, weights = self._steps(tgt_in, self.start(src, src_len))
        self.attention_weights = weights.detach()
        return self.dense(outputs)

    def advance(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """tokens [N] -> (log-probabilities [N, V], new state)."""
        outputs, state, _ = self._steps(tokens.unsqueeze(1), state)
        logits = self.dense(outputs[:, 0])
        return F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1), state


@register_model("bahdanau-seq2seq", "seq2seq", options=SEQ2SEQ_OPTIONS)
def bahdanau_seq2seq(
    *, src_vocab_size: int, tgt_vocab_size: int, **options: Any
) -> BahdanauSeq2Seq:
    """GRU encoder-decoder with Bahdanau (additive) attention over the encoder outputs."""
    return BahdanauSeq2Seq(src_vocab_size, tgt_vocab_size, **options)
