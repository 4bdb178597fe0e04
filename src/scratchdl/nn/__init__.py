"""Neural-network layers written from scratch on autograd, each a drop-in twin of torch.nn."""

from scratchdl.nn.attention import (
    AdditiveAttention,
    DotProductAttention,
    masked_softmax,
    scaled_dot_product_attention,
)
from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.nn.conv_transpose import ConvTranspose2d, bilinear_kernel, conv_transpose2d
from scratchdl.nn.losses import label_smoothed_cross_entropy
from scratchdl.nn.max_pool import MaxPool2x2, max_pool2x2
from scratchdl.nn.multihead import KVCache, MultiHeadAttention
from scratchdl.nn.positions import LearnedPositions, RotaryEmbedding, SinusoidalPositions
from scratchdl.nn.recurrent import GRU, LSTM, RNN, make_recurrent
from scratchdl.nn.transformer import (
    AddNorm,
    DecoderCache,
    PositionwiseFFN,
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "AddNorm",
    "AdditiveAttention",
    "ConvTranspose2d",
    "DecoderCache",
    "DotProductAttention",
    "KVCache",
    "LearnedPositions",
    "MaxPool2x2",
    "MultiHeadAttention",
    "PositionwiseFFN",
    "RotaryEmbedding",
    "SinusoidalPositions",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
    "bilinear_kernel",
    "clip_grad_norm",
    "conv_transpose2d",
    "detach_state",
    "label_smoothed_cross_entropy",
    "make_recurrent",
    "masked_softmax",
    "max_pool2x2",
    "scaled_dot_product_attention",
]
