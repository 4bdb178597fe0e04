"""One time step of the RNN, GRU and LSTM cells: the gate equations, written out.

Shapes: B = batch, H = hidden size. Each cell gets `xi`, the input's contribution to its
pre-activations for this step, already computed for the whole sequence in one matmul
(x @ W_ih^T + b_ih, see recurrent.py), and adds the hidden state's contribution h @ W_hh^T.
`w_hh_t` is W_hh transposed, [H, G*H], so the step is one fused matmul for all G gates.

Gate order inside W_ih / W_hh rows follows torch.nn, so state dicts load both ways:
RNN: (one block); GRU: r, z, n; LSTM: i, f, g, o.
"""

import torch
from torch import Tensor


def rnn_tanh_cell(xi: Tensor, h: Tensor, w_hh_t: Tensor) -> Tensor:
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh). xi: [B, H] (both biases folded in)."""
    return torch.tanh(torch.addmm(xi, h, w_hh_t))


def rnn_relu_cell(xi: Tensor, h: Tensor, w_hh_t: Tensor) -> Tensor:
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh). xi: [B, H] (both biases folded in)."""
    return torch.relu(torch.addmm(xi, h, w_hh_t))


def gru_cell(xi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """One GRU step. xi: [B, 3H] = x W_ih^T + b_ih; h: [B, H]; returns h': [B, H].

    b_hh stays separate because the reset gate multiplies (h W_hn^T + b_hn), bias included.
    """
    hh = torch.mm(h, w_hh_t) if b_hh is None else torch.addmm(b_hh, h, w_hh_t)  # [B, 3H]
    x_r, x_z, x_n = xi.chunk(3, 1)
    h_r, h_z, h_n = hh.chunk(3, 1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the past feeds the candidate
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return n + z * (h - n)  # = (1 - z) * n + z * h, one multiply fewer


def lstm_cell(xi: Tensor, state: tuple[Tensor, Tensor], w_hh_t: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step. xi: [B, 4H] = x W_ih^T + b_ih + b_hh; state (h, c): [B, H] each."""
    h, c = state
    gates = torch.addmm(xi, h, w_hh_t)  # [B, 4H]: all four gates in one matmul
    i, f, g, o = gates.chunk(4, 1)
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate: how much of the old cell to keep
    g = torch.tanh(g)  # candidate cell
    o = torch.sigmoid(o)  # output gate: how much of the cell to show
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c
