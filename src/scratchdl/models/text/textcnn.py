"""TextCNN (Kim 2014; the book's sec. 15.3): embeddings -> parallel 1-D convolutions of several
widths -> max-over-time pooling -> ReLU -> concatenation -> dropout -> linear.

two_channels (the book's choice, Kim's "multichannel"): a second embedding table, kept frozen
at its pretrained values, is concatenated to the trainable one along the feature axis. The
max over time ignores padding: pad positions are set to -inf before the max.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model


class TextCNN(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_size: int = 50,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        num_channels: Sequence[int] = (100, 100, 100),
        dropout: float = 0.5,
        two_channels: bool = True,
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != len(num_channels) or not kernel_sizes:
            raise UserError(
                f"textcnn: kernel_sizes {list(kernel_sizes)} and num_channels "
                f"{list(num_channels)} must be non-empty lists of the same length"
            )
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.constant_embedding = nn.Embedding(vocab_size, embed_size) if two_channels else None
        if self.constant_embedding is not None:
            self.constant_embedding.weight.requires_grad_(False)
        width = embed_size * (2 if two_channels else 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(width, c, k) for c, k in zip(num_channels, kernel_sizes, strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(sum(num_channels), num_classes)
        self.min_len = max(kernel_sizes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids [B, T] (pad id 0), lengths [B] >= 1 -> logits [B, num_classes]."""
        if ids.shape[1] < self.min_len:  # a conv needs at least its width of positions
            ids = F.pad(ids, (0, self.min_len - ids.shape[1]))
        x = self.embedding(ids)
        if self.constant_embedding is not None:
            x = torch.cat([x, self.constant_embedding(ids)], dim=2)
        x = x.transpose(1, 2)  # [B, E, T]
        pos = torch.arange(ids.shape[1], device=ids.device)
        feats = []
        for conv in self.convs:
            y = conv(x)  # [B, C, T - k + 1]; window t covers tokens t .. t+k-1
            k = conv.kernel_size[0]
            # a window is real if it starts on a real token (short sentences keep window 0)
            real = pos[: y.shape[2]][None, :] < (lengths.to(ids.device)[:, None] - k + 1).clamp_min(
                1
            )
            y = y.masked_fill(~real[:, None, :], float("-inf"))
            feats.append(F.relu(y.amax(dim=2)))
        return self.decoder(self.dropout(torch.cat(feats, dim=1)))


TEXTCNN_OPTIONS: dict[str, Any] = {
    "embed_size": 50,
    "kernel_sizes": [3, 4, 5],
    "num_channels": [100, 100, 100],
    "dropout": 0.5,
    "two_channels": True,  # the book's second, frozen copy of the pretrained embedding
}


@register_model("textcnn", "text-classifier", options=TEXTCNN_OPTIONS)
def textcnn(*, vocab_size: int, num_classes: int, **options: Any) -> TextCNN:
    """TextCNN sentence classifier (Kim 2014; book sec. 15.3)."""
    return TextCNN(vocab_size, num_classes, **options)
