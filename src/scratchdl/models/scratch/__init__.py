"""Nets built only from the hand-written layers, each with `params`, `loss(x, y=None)`,
train()/eval() and a dtype choice."""

from scratchdl.models.scratch._base import ScratchNet
from scratchdl.models.scratch.convnet import ConvNet
from scratchdl.models.scratch.fcnet import FullyConnectedNet
from scratchdl.models.scratch.twolayer import TwoLayerNet

__all__ = ["ScratchNet", "TwoLayerNet", "FullyConnectedNet", "ConvNet"]
