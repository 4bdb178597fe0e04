"""Optimizers written from scratch, each matching its torch.optim twin step for step.

Pure update functions (`sgd_update`, ...) work on lists of tensors; the classes wrap them as
torch.optim.Optimizer subclasses (nn.Module world); DictOptimizer adapts any of them to dicts
of tensors (hand-written layers' world); scratch_optimizer picks one by name.
"""

from scratchdl.scratch.optim.adagrad import Adagrad, adagrad_update
from scratchdl.scratch.optim.adam import Adam, AdamW, adam_update
from scratchdl.scratch.optim.base import ScratchOptimizer
from scratchdl.scratch.optim.dict_optimizer import DictOptimizer
from scratchdl.scratch.optim.registry import OPTIMIZERS, scratch_optimizer
from scratchdl.scratch.optim.rmsprop import RMSprop, rmsprop_update
from scratchdl.scratch.optim.sgd import SGD, sgd_update

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "DictOptimizer",
    "RMSprop",
    "ScratchOptimizer",
    "adagrad_update",
    "adam_update",
    "scratch_optimizer",
    "rmsprop_update",
    "sgd_update",
]
