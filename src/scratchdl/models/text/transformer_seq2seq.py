"""Encoder-decoder Transformer for translation (Vaswani et al. 2017; book sec. 11.7), built from
scratchdl.nn's blocks.

    model = TransformerSeq2Seq(len(src_vocab), len(tgt_vocab), d_model=256, nhead=4)
    logits = model(src, src_len, teacher_forcing_input(tgt, bos))   # [B, T, V]
    model.cross_attention(src, src_len, tgt_in)                      # [layers][B, H, T, S]

Embeddings are scaled by sqrt(d_model) and get sinusoidal positions; source padding is masked
out of the encoder's self-attention and of the decoder's cross-attention; the decoder's
self-attention is causal (padding after a target's end only reaches positions the loss
ignores). tie_output shares the target embedding with the output projection.

Decoding (protocol of seq2seq.py): the state holds the encoder memory and every decoder
layer's KV cache, so a step feeds only the newest token; beam search reorders the cached
keys and values with the beams (select_state).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models.text.seq2seq import _check_batch
from scratchdl.nn.multihead import KVCache
from scratchdl.nn.positions import SinusoidalPositions
from scratchdl.nn.transformer import DecoderCache, TransformerDecoder, TransformerEncoder

State = tuple  # (memory [B,S,D], padding [B,S], ((self k, self v, cross k, cross v), ...))


class TransformerSeq2Seq(nn.Module):
    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 256,
        nhead: int = 4,
        num_layers: int = 3,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        norm_first: bool = True,
        tie_output: bool = True,
        use_sdpa: bool = True,
        max_len: int = 64,
    ) -> None:
        super().__init__()
        if max_len < 1:
            raise UserError(f"TransformerSeq2Seq: max_len must be >= 1, got {max_len}")
        args = (num_layers, d_model, nhead, dim_feedforward, dropout)
        kw = {"norm_first": norm_first, "use_sdpa": use_sdpa}
        self.encoder = TransformerEncoder(*args, **kw)
        self.decoder = TransformerDecoder(*args, **kw)
        self.src_embedding = nn.Embedding(src_vocab_size, d_model)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model)
        for emb in (self.src_embedding, self.tgt_embedding):
            nn.init.normal_(emb.weight, std=d_model**-0.5)
        self.positions = SinusoidalPositions(d_model, max_len + 1, dropout)
        self.dense = nn.Linear(d_model, tgt_vocab_size)
        if tie_output:
            self.dense.weight = self.tgt_embedding.weight
        self.scale = math.sqrt(d_model)
        self.max_len = max_len

    def _embed(self, emb: nn.Embedding, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return self.positions(emb(ids) * self.scale, offset)

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(memory [B, S, D], padding mask [B, S], True = padding)."""
        _check_batch("TransformerSeq2Seq source", src, src_len)
        if len(src_len) and src_len.max() > self.max_len:
            raise UserError(
                f"a source sentence has {src_len.max().item()} tokens with <eos>, more than "
                f"the model's max_len {self.max_len}: shorten it or train with a larger max_len"
            )
        padding = torch.arange(src.shape[1], device=src.device) >= src_len.to(src.device)[:, None]
        memory = self.encoder(self._embed(self.src_embedding, src), src_key_padding_mask=padding)
        return memory, padding

    def forward(
        self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits [B, T, V] for the next token after each of tgt_in [B, T]."""
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise UserError(
                f"TransformerSeq2Seq: expected decoder input [{src.shape[0]}, steps], "
                f"got {tuple(tgt_in.shape)}"
            )
        memory, padding = self.encode(src, src_len)
        x = self.decoder(
            self._embed(self.tgt_embedding, tgt_in), memory, memory_key_padding_mask=padding
        )
        return self.dense(x)

    @torch.no_grad()
    def cross_attention(
        self, src: torch.Tensor, src_len: torch.Tensor, tgt_in: torch.Tensor
    ) -> list[torch.Tensor]:
        """Every decoder layer's per-head encoder-decoder weights [B, H, T, S] (for plots)."""
        blocks = list(self.decoder.layers)
        saved = [b.need_weights for b in blocks]
        try:
            for b in blocks:
                b.need_weights = True
            self(src, src_len, tgt_in)
            return [b.cross_attention_weights for b in blocks]
        finally:
            for b, s in zip(blocks, saved, strict=True):
                b.need_weights = s

    # -- decoding protocol ---------------------------------------------------------------
    def start(self, src: torch.Tensor, src_len: torch.Tensor) -> State:
        memory, padding = self.encode(src, src_len)
        return memory, padding, tuple((None, None, None, None) for _ in self.decoder.layers)

    def advance(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """tokens [N] -> (log-probabilities [N, V], state with the caches one longer)."""
        memory, padding, layers = state
        cache = [
            DecoderCache(KVCache(sk, sv), KVCache(ck, cv, static=True))
            for sk, sv, ck, cv in layers
        ]
        offset = cache[0].self_attn.length
        x = self._embed(self.tgt_embedding, tokens.unsqueeze(1), offset)
        x = self.decoder(x, memory, memory_key_padding_mask=padding, cache=cache)
        logits = self.dense(x[:, 0])
        log_probs = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1)
        layers = tuple(
            (c.self_attn.k, c.self_attn.v, c.cross_attn.k, c.cross_attn.v) for c in cache
        )
        return log_probs, (memory, padding, layers)


TRANSFORMER_SEQ2SEQ_OPTIONS: dict[str, Any] = {
    "d_model": 256,
    "nhead": 4,
    "num_layers": 3,  # encoder and decoder each
    "dim_feedforward": 1024,
    "dropout": 0.1,
    "norm_first": True,  # pre-norm blocks (False: the 2017 paper's post-norm)
    "tie_output": True,  # output projection shares the target embedding
    "use_sdpa": True,  # fused attention kernel (weights for plots are computed on request)
    "max_len": 64,  # longest source accepted / output generated, in tokens with <eos>
}


@register_model("transformer-seq2seq", "seq2seq", options=TRANSFORMER_SEQ2SEQ_OPTIONS)
def transformer_seq2seq(
    *, src_vocab_size: int, tgt_vocab_size: int, **options: Any
) -> TransformerSeq2Seq:
    """Encoder-decoder Transformer (sinusoidal positions, KV-cached decoding)."""
    return TransformerSeq2Seq(src_vocab_size, tgt_vocab_size, **options)
