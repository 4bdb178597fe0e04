"""A decoder-only GPT in nanoGPT's shape (Radford et al. 2018/2019; Karpathy's nanoGPT).

token embedding (+ learned positions) -> N pre-norm blocks
[x + attn(LN(x)), x + MLP(LN(x))] -> final LayerNorm -> LM head tied to the token embedding.
The blocks are scratchdl.nn.transformer.TransformerEncoderBlock (norm_first, GELU MLP of 4x
width, causal MultiHeadAttention with a KV cache, the fused SDPA kernel); positions are
a learned table added to the embeddings ("learned", GPT-2) or rotary rotations of every
head's queries and keys ("rotary", RoFormer/LLaMA). Initialisation as GPT-2: N(0, 0.02),
residual output projections N(0, 0.02 / sqrt(2 N)), zero biases.

Incremental decoding (`step`, `generate`): each new token attends to the cached keys and
values of the tokens before it, so a token costs O(t), not a whole forward pass. The model
sees at most block_size tokens: with crop=True (the default) a full cache is rebuilt from the
last block_size // 2 tokens (one forward pass) and decoding goes on; with crop=False a
sequence longer than the position table is refused (learned positions), while rotary
positions go on up to their 4096-position table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.nn.multihead import KVCache
from scratchdl.nn.positions import LearnedPositions, RotaryEmbedding
from scratchdl.nn.transformer import TransformerEncoderBlock

POSITIONS = ("learned", "rotary")
ROTARY_TABLE = 4096  # rotary positions beyond the block are allowed (uncropped decoding)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_options(n_layer: int, n_head: int, n_embd: int, block_size: int, positions: str) -> None:
    """One-line UserErrors for [model] values a GPT cannot be built with."""
    if positions not in POSITIONS:
        allowed = ", ".join(POSITIONS)
        raise UserError(f"model.positions must be one of {allowed}, got {positions!r}")
    for key, value in (("n_layer", n_layer), ("n_embd", n_embd), ("block_size", block_size)):
        if not _is_int(value, 1):
            raise UserError(f"model.{key} must be an int >= 1, got {value!r}")
    if not _is_int(n_head, 1) or n_embd % n_head:
        raise UserError(f"model.n_head must divide model.n_embd={n_embd}, got {n_head!r}")
    if positions == "rotary" and (n_embd // n_head) % 2:
        raise UserError(f"rotary positions need an even head size, got {n_embd // n_head}")


class GPT(nn.Module):
    """forward(idx [B, T], caches=None) -> (logits [B, T, V], caches).

    caches: None (no cache: a training or scoring pass) or one KVCache per layer, extended in
    place with the new positions (the positions of idx start at the caches' length).
    """

    def __init__(
        self,
        vocab_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        block_size: int = 128,
        positions: str = "learned",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_options(n_layer, n_head, n_embd, block_size, positions)
        self.block_size, self.positions, self.n_layer = block_size, positions, n_layer
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = LearnedPositions(block_size, n_embd) if positions == "learned" else None
        rotary = None
        if positions == "rotary":  # one table shared by every layer (a buffer, no weights)
            rotary = RotaryEmbedding(n_embd // n_head, max(ROTARY_TABLE, block_size))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(
                n_embd, n_head, 4 * n_embd, dropout, "gelu", norm_first=True, rotary=rotary,
                use_sdpa=True,
            )
            for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init)
        for block in self.blocks:  # GPT-2: residual projections scaled by 1/sqrt(2 N)
            for proj in (block.self_attn.out_proj, block.ffn.linear2):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, LearnedPositions):
            nn.init.normal_(m.weight, std=0.02)

    def forward(
        self, idx: Tensor, caches: list[KVCache] | None = None, need_weights: bool = False
    ) -> tuple[Tensor, list[KVCache] | None]:
        if idx.dim() != 2:
            raise UserError(f"GPT expects token ids [B, T], got shape {tuple(idx.shape)}")
        offset = caches[0].length if caches else 0
        rotary = self.blocks[0].self_attn.rotary
        if rotary is not None and offset + idx.shape[1] > rotary.max_len:
            raise UserError(
                f"GPT: positions up to {offset + idx.shape[1]} exceed the rotary table "
                f"({rotary.max_len}); crop the input"
            )
        x = self.tok(idx)
        if self.pos is not None:
            x = self.pos(x, offset=offset)  # a one-line UserError past block_size
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            block.need_weights = need_weights
            x = block(x, is_causal=True, cache=None if caches is None else caches[i])
        return self.head(self.ln_f(x)), caches

    @torch.no_grad()
    def attention_maps(self, idx: Tensor, layer: int = -1) -> Tensor:
        """Attention weights [H, T, T] of one layer (default: the last) on idx [T] or [1, T]."""
        idx = idx.reshape(1, -1)
        was = self.training
        self.eval()
        self(idx, need_weights=True)
        self.train(was)
        return self.blocks[layer].self_attn.attention_weights[0]

    # ------------------------------------------------------------------ decoding
    def new_caches(self) -> list[KVCache]:
        return [KVCache() for _ in self.blocks]

    def stepper(self, crop: bool = True):
        """A step function for scratchdl.text.decoding: step(tokens [B], state) ->
        (logits [B, V], state). state: (token history [T, B], then per layer keys and values
        as [H, B, T, d] views), batch dimension 1 everywhere so beam search can reorder it."""

        def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
            hist = tokens[None] if state is None else torch.cat([state[0], tokens[None]])
            if state is not None and state[1].shape[2] + 1 > self.block_size and crop:
                state = None  # full: rebuild the cache from the last block_size // 2 tokens
                ids = hist[-max(1, self.block_size // 2) :].T
            else:
                ids = tokens[:, None]
            caches = self.new_caches()
            if state is not None:
                for cache, k, v in zip(caches, state[1::2], state[2::2], strict=True):
                    cache.k, cache.v = k.transpose(0, 1), v.transpose(0, 1)
            logits, caches = self(ids, caches)
            kv = [t.transpose(0, 1) for c in caches for t in (c.k, c.v)]
            return logits[:, -1], (hist, *kv)

        return step

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The cropping step function (stepper(crop=True))."""
        return self.stepper(crop=True)(tokens, state)

    def generate(
        self,
        prompt: Sequence[int] | Tensor,
        num_tokens: int,
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float = 1.0,
        beam_size: int | None = None,
        crop: bool = True,
        eos: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Continue `prompt` by up to num_tokens tokens with the KV cache; the new tokens.

        strategy "greedy" or "sample" (temperature, top_k >= 1 or None, top_p in (0, 1]);
        beam_size >= 1 runs beam search instead (beam_size=1 is greedy). crop=False refuses
        a prompt + continuation longer than the learned position table.
        """
        from scratchdl.text.decoding import beam_search, check_sampling, generate

        if top_k is not None and not _is_int(top_k, 1):
            raise UserError(f"top_k must be an integer >= 1 (None: off), got {top_k!r}")
        check_sampling(temperature, top_k or 0, top_p, "GPT.generate")
        n_prompt = len(prompt)
        if not crop and self.pos is not None and n_prompt + num_tokens > self.block_size:
            what = "prompt" if n_prompt > self.block_size else "prompt + continuation"
            raise UserError(
                f"GPT.generate: the {what} ({n_prompt} + {num_tokens} tokens) is longer than "
                f"the learned position table (block_size {self.block_size}); pass crop=True "
                "to slide the window, or generate fewer tokens"
            )
        device = self.tok.weight.device
        was = self.training
        self.eval()
        try:
            step = self.stepper(crop)
            if beam_size is not None:
                if not _is_int(beam_size, 1):
                    raise UserError(f"beam_size must be an integer >= 1, got {beam_size!r}")
                return beam_search(step, prompt, num_tokens, beam_size, eos=eos, device=device)
            return generate(
                step, prompt, num_tokens, strategy=strategy, temperature=temperature,
                top_k=top_k or 0, top_p=top_p, generator=generator, eos=eos, device=device,
            )
        finally:
            self.train(was)


GPT_OPTIONS: dict[str, Any] = {
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "block_size": 128,  # the context window (tokens a prediction may see)
    "positions": "learned",  # learned (GPT-2) or rotary (RoFormer)
    "dropout": 0.0,
}


@register_model("gpt", "language-model", options=GPT_OPTIONS)
def gpt(*, vocab_size: int, **options: Any) -> GPT:
    """Decoder-only transformer LM (nanoGPT shape): causal attention over a fixed block."""
    return GPT(vocab_size, **options)
