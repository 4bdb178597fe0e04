"""Hand-written layers: each is a class with static `forward(x, ...) -> (out, cache)` and
`backward(dout, cache) -> gradients` (in the order of forward's tensor arguments), on plain
torch tensors with no autograd."""

from scratchdl.scratch.layers._common import Cache
from scratchdl.scratch.layers.activations import ELU, SELU, LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from scratchdl.scratch.layers.affine import Affine
from scratchdl.scratch.layers.conv import Conv, ConvNaive
from scratchdl.scratch.layers.conv_transpose import ConvTranspose
from scratchdl.scratch.layers.dropout import Dropout
from scratchdl.scratch.layers.losses import (
    MulticlassSVM,
    SoftmaxCrossEntropy,
    softmax_loss,
    svm_loss,
)
from scratchdl.scratch.layers.norm import BatchNorm, LayerNorm, SpatialBatchNorm
from scratchdl.scratch.layers.pool import AvgPool, MaxPool

__all__ = [
    "Cache",
    "Affine",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "SELU",
    "Sigmoid",
    "Tanh",
    "Dropout",
    "BatchNorm",
    "SpatialBatchNorm",
    "LayerNorm",
    "Conv",
    "ConvNaive",
    "ConvTranspose",
    "MaxPool",
    "AvgPool",
    "SoftmaxCrossEntropy",
    "MulticlassSVM",
    "softmax_loss",
    "svm_loss",
]
