"""Neural-network layers written from scratch on autograd, each a drop-in twin of torch.nn."""

from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.nn.conv_transpose import ConvTranspose2d, bilinear_kernel, conv_transpose2d
from scratchdl.nn.recurrent import GRU, LSTM, RNN, make_recurrent

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ConvTranspose2d",
    "bilinear_kernel",
    "clip_grad_norm",
    "conv_transpose2d",
    "detach_state",
    "make_recurrent",
]
