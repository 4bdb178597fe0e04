"""BERT (Devlin et al. 2019) on the project's own Transformer encoder block.

    input ids, segment ids -> token + segment + learned position embeddings -> LayerNorm ->
    dropout -> N post-norm GELU encoder blocks (key padding mask) -> hidden states (B, T, H)
                                                                   -> pooler: tanh(W h_[CLS])

Pretraining heads: MaskedLMHead (dense + GELU + LayerNorm, then the decoder tied to the word
embeddings) and NextSentenceHead (2 logits from the pooled [CLS]); `mask_tokens` applies the
80/10/10 rule. `mean_pool` + L2 normalisation is the sentence-transformers embedding.
Real MiniLM weights load with scratchdl.models.text.bert_weights.load_minilm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.nn.transformer import TransformerEncoderBlock


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    use_sdpa: bool = False  # True: torch's fused attention kernel (same numbers, faster)


class BertEmbeddings(nn.Module):
    """Token + segment + learned absolute position embeddings, then LayerNorm and dropout."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.token = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.segment = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.position.num_embeddings:
            raise UserError(
                f"sequence of {t} tokens is longer than BERT's position table "
                f"({self.position.num_embeddings}): truncate it (WordPiece.encode(max_len=...))"
            )
        pos = torch.arange(t, device=ids.device)
        x = self.token(ids) + self.segment(segments) + self.position(pos)
        return self.dropout(self.norm(x))


class Bert(nn.Module):
    """The encoder: forward(ids, segments=None, mask=None) -> (hidden (B,T,H), pooled (B,H)).

    mask: bool (B, T), True for real tokens (Hugging Face's attention_mask); padding is ignored
    by attention.
    """

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(
                cfg.hidden,
                cfg.heads,
                cfg.intermediate,
                dropout=cfg.dropout,
                activation="gelu",
                norm_first=False,
                layer_norm_eps=cfg.layer_norm_eps,
                use_sdpa=cfg.use_sdpa,
            )
            for _ in range(cfg.layers)
        )
        self.pooler = nn.Linear(cfg.hidden, cfg.hidden)
        self.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if ids.ndim != 2:
            raise UserError(f"BERT input ids: expected (batch, length), got {tuple(ids.shape)}")
        if segments is None:
            segments = torch.zeros_like(ids)
        x = self.embeddings(ids, segments)
        padding = None if mask is None else ~mask.bool()
        for block in self.blocks:
            x = block(x, src_key_padding_mask=padding)
        return x, torch.tanh(self.pooler(x[:, 0]))


def init_bert_weights(m: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm (1, 0)."""
    if isinstance(m, nn.Linear | nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class MaskedLMHead(nn.Module):
    """dense + GELU + LayerNorm, then logits over the vocabulary with the word embeddings tied."""

    def __init__(self, cfg: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.decoder_weight = word_embeddings.weight  # tied: one tensor, two uses
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.norm(F.gelu(self.dense(hidden)))
        return h @ self.decoder_weight.T + self.bias


class NextSentenceHead(nn.Module):
    """Is segment B the sentence that followed A? 2 logits from the pooled [CLS] vector."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.out = nn.Linear(cfg.hidden, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(pooled)


def mask_tokens(
    ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: pick `prob` of the maskable positions as targets; of them 80% become
    [MASK], 10% a random token, 10% stay. Returns (inputs, labels) with label -100 elsewhere.

    The 10% left unchanged keep the model from learning that only [MASK] positions matter.
    """
    dev = ids.device
    chosen = (torch.rand(ids.shape, generator=generator, device=dev) < prob) & maskable.bool()
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    draw = torch.rand(ids.shape, generator=generator, device=dev)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, device=dev)
    inputs = torch.where(chosen & (draw < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (draw >= 0.8) & (draw < 0.9), random_ids, inputs)
    return inputs, labels


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Mean of the real tokens' hidden states (sentence-transformers' pooling), L2-normalised."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=-1) if normalize else pooled


BERT_OPTIONS = {
    "hidden": 128,
    "layers": 2,
    "heads": 2,
    "intermediate": 256,
    "max_positions": 64,
    "dropout": 0.1,
    "use_sdpa": True,
}


@register_model("bert", "bert", options=BERT_OPTIONS)
def bert(*, vocab_size: int, **options: object) -> Bert:
    """A BERT encoder trained from scratch (defaults: the book's small 2-layer, 128-wide BERT)."""
    return Bert(BertConfig(vocab_size=vocab_size, **options))  # type: ignore[arg-type]
