"""BERT with a head: pretraining (MLM + NSP) and the three fine-tuning shapes of the book.

BertPretrain         ids, segments, mask -> (MLM logits (B,T,V), NSP logits (B,2))
BertSequenceClassifier  pooled [CLS] -> dropout -> linear -> class logits (B, C)
BertTokenTagger      each token's hidden state -> dropout -> linear -> tag logits (B, T, C)
BertSpanExtractor    each token -> (start, end) logits (B, T) each; span_loss averages the
                     start and end cross-entropies; best_span picks start <= end
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.models.text.bert import Bert, MaskedLMHead, NextSentenceHead, init_bert_weights


class BertPretrain(nn.Module):
    """BERT + the masked-LM head (tied to the word embeddings) + the next-sentence head."""

    def __init__(self, bert: Bert) -> None:
        super().__init__()
        self.bert = bert
        self.mlm = MaskedLMHead(bert.cfg, bert.embeddings.token)
        self.nsp = NextSentenceHead(bert.cfg)
        self.mlm.dense.apply(init_bert_weights)
        self.nsp.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor,
        mask: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(MLM logits, NSP logits). With `targets` (bool (B, T)), MLM logits only at those
        positions, (M, V): the vocabulary projection is most of a small BERT's cost."""
        hidden, pooled = self.bert(ids, segments, mask)
        if targets is not None:
            hidden = hidden[targets]
        return self.mlm(hidden), self.nsp(pooled)


class BertSequenceClassifier(nn.Module):
    """Sentence (or sentence-pair) classification from the pooled [CLS] vector."""

    def __init__(self, bert: Bert, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(bert.cfg.hidden, num_classes)
        self.out.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _, pooled = self.bert(ids, segments, mask)
        return self.out(self.dropout(pooled))


class BertTokenTagger(nn.Module):
    """One label per token (POS tags, named entities): a linear layer on every hidden state."""

    def __init__(self, bert: Bert, num_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(bert.cfg.hidden, num_tags)
        self.out.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.bert(ids, segments, mask)
        return self.out(self.dropout(hidden))


class BertSpanExtractor(nn.Module):
    """Span extraction (SQuAD-style QA): a start and an end logit for every token."""

    def __init__(self, bert: Bert) -> None:
        super().__init__()
        self.bert = bert
        self.out = nn.Linear(bert.cfg.hidden, 2)
        self.out.apply(init_bert_weights)

    def forward(
        self,
        ids: torch.Tensor,
        segments: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, _ = self.bert(ids, segments, mask)
        start, end = self.out(hidden).unbind(-1)
        if mask is not None:  # a padding position can never start or end the answer
            start = start.masked_fill(~mask.bool(), float("-inf"))
            end = end.masked_fill(~mask.bool(), float("-inf"))
        return start, end


def span_loss(
    start: torch.Tensor, end: torch.Tensor, gold_start: torch.Tensor, gold_end: torch.Tensor
) -> torch.Tensor:
    """Mean of the start and end cross-entropies (BERT's SQuAD loss)."""
    return (F.cross_entropy(start, gold_start) + F.cross_entropy(end, gold_end)) / 2


def best_span(start: torch.Tensor, end: torch.Tensor, max_len: int = 30) -> torch.Tensor:
    """(B, 2) argmax of start[i] + end[j] over i <= j < i + max_len."""
    t = start.shape[1]
    scores = start.unsqueeze(2) + end.unsqueeze(1)  # (B, i, j)
    i = torch.arange(t, device=start.device)
    ok = (i.view(-1, 1) <= i.view(1, -1)) & (i.view(1, -1) < i.view(-1, 1) + max_len)
    flat = scores.masked_fill(~ok, float("-inf")).flatten(1).argmax(1)
    return torch.stack([flat // t, flat % t], dim=1)
