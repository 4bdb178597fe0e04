"""The book's BiRNN sentiment classifier (sec. 15.2): embedding -> stacked bidirectional
LSTM -> [outputs at the first and the last real token] -> linear.

Sequences are packed (nn.utils.rnn.pack_padded_sequence), so padding never enters the LSTM and
"the last token" is each sentence's own last token, not a pad.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from scratchdl.models._registry import register_model


class BiRNNClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_size: int = 50,
        hidden_size: int = 100,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.encoder = nn.LSTM(
            embed_size, hidden_size, num_layers, bidirectional=True, batch_first=True
        )
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(4 * hidden_size, num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids [B, T] (pad id 0), lengths [B] >= 1 -> logits [B, num_classes]."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)  # [B, T', 2H]
        last = out[torch.arange(len(ids), device=out.device), lengths.to(out.device) - 1]
        return self.decoder(self.dropout(torch.cat([out[:, 0], last], dim=1)))


BIRNN_OPTIONS: dict[str, Any] = {
    "embed_size": 50,  # 50 to start from GloVe 6B 50d
    "hidden_size": 100,
    "num_layers": 2,
    "dropout": 0.0,  # on the pooled features, before the output layer
}


@register_model("birnn-sentiment", "text-classifier", options=BIRNN_OPTIONS)
def birnn_sentiment(*, vocab_size: int, num_classes: int, **options: Any) -> BiRNNClassifier:
    """Bidirectional LSTM sentence classifier (book sec. 15.2)."""
    return BiRNNClassifier(vocab_size, num_classes, **options)
