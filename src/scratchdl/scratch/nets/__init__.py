"""Nets built only from the hand-written layers, each with `params`, `loss(x, y=None)`,
train()/eval() and a dtype choice."""

from scratchdl.scratch.nets.base import ScratchNet
from scratchdl.scratch.nets.convnet import ConvNet
from scratchdl.scratch.nets.fully_connected import FullyConnectedNet
from scratchdl.scratch.nets.two_layer import TwoLayerNet

__all__ = ["ScratchNet", "TwoLayerNet", "FullyConnectedNet", "ConvNet"]
