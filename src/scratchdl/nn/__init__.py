"""Neural-network layers written from scratch on autograd, each a drop-in twin of torch.nn."""

from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.nn.recurrent import GRU, LSTM, RNN, make_recurrent

__all__ = ["GRU", "LSTM", "RNN", "clip_grad_norm", "detach_state", "make_recurrent"]
