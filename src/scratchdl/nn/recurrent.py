"""RNN, GRU and LSTM layers from scratch on autograd: stacked, bidirectional, batch_first.

Same conventions as torch.nn.RNN / GRU / LSTM, so either can replace the other:
- input x: [T, B, input_size] (time-major), [B, T, input_size] with batch_first, or unbatched
  [T, input_size]; forward(x, h0=None) -> (output, h_n);
- output: [T, B, D * hidden_size] (D = 2 if bidirectional else 1), the last layer's states;
- h0 / h_n: [num_layers * D, B, hidden_size] (never batch-first), for LSTM a tuple (h, c);
- parameters `weight_ih_l{k}[_reverse]` [G*H, in], `weight_hh_l{k}[_reverse]` [G*H, H],
  `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]` [G*H] with G gates in torch's order, all
  initialised uniform(-1/sqrt(H), 1/sqrt(H)) in torch's order (same seed, same weights);
- dropout on the outputs of every layer but the last, in training mode only.

The gate equations live in rnn_cells.py. Speed comes from doing per sequence what can be done
per sequence: the input projection of all T steps is one matmul, all gates share one matmul
per step, and the step outputs are stacked once at the end.
"""

import difflib
import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from scratchdl.errors import UserError
from scratchdl.nn.bptt import clip_grad_norm, detach_state
from scratchdl.nn.rnn_cells import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell

__all__ = ["GRU", "LSTM", "RNN", "clip_grad_norm", "detach_state", "make_recurrent"]

State = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for LSTM


class _Recurrent(nn.Module):
    """What RNN, GRU and LSTM share: torch-named parameters, input checks, the loops over
    layers, directions and time steps. Subclasses give the gate count and the cell step."""

    gate_count = 1  # G: blocks of hidden_size rows in W_ih and W_hh
    folds_hh_bias = True  # b_hh can join b_ih in the input projection (not so for GRU)
    state_is_pair = False  # LSTM carries (h, c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in [("input_size", input_size), ("hidden_size", hidden_size)]:
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"{name} expects {arg} a positive int, got {value!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise UserError(f"{name} expects num_layers an int >= 1, got {num_layers!r}")
        is_number = isinstance(dropout, numbers.Number) and not isinstance(dropout, bool)
        if not is_number or not 0 <= dropout <= 1:
            raise UserError(f"{name} expects dropout a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:  # torch warns the same way
            warnings.warn(
                f"dropout acts between stacked layers only, so dropout={dropout} does nothing "
                f"with num_layers=1",
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        rows = self.gate_count * hidden_size
        # Registration order = torch's, so reset_parameters draws the same numbers.
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                shapes = {"weight_ih": (rows, layer_input_size), "weight_hh": (rows, hidden_size)}
                if bias:
                    shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
                for kind, shape in shapes.items():
                    param = nn.Parameter(torch.empty(shape))
                    self.register_parameter(kind + _suffix(layer, direction), param)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ uniform(-1/sqrt(H), 1/sqrt(H)), as torch.nn.RNNBase."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, xi: Tensor, state: State, w_hh_t: Tensor, b_hh: Tensor | None) -> State:
        """One time step of the cell (see rnn_cells.py)."""
        raise NotImplementedError

    def forward(self, x: Tensor, h0: State | None = None) -> tuple[Tensor, State]:
        """x: [T, B, in] ([B, T, in] if batch_first, or unbatched [T, in]); h0 as h_n or None.

        Returns output [T, B, D*H] (batch_first: [B, T, D*H]; unbatched: [T, D*H]) and
        h_n [L*D, B, H] (unbatched: [L*D, H]); for LSTM h0 and h_n are (h, c) pairs.
        """
        batched = self._check_input(x)
        if not batched:  # run it as a batch of one
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        states = self._initial_states(h0, x, batched)
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                state = states[layer * self.num_directions + direction]
                output, final = self._run_direction(layer_input, state, layer, direction)
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input
        if self.state_is_pair:
            h_n: State = (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        else:
            h_n = torch.stack(finals)
        if not batched:
            output = output.squeeze(1)
            h_n = tuple(s.squeeze(1) for s in h_n) if self.state_is_pair else h_n.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def _run_direction(
        self, x: Tensor, state: State, layer: int, direction: int
    ) -> tuple[Tensor, State]:
        """One layer in one direction over x [T, B, in]: outputs [T, B, H] and final state."""
        sfx = _suffix(layer, direction)
        w_ih, w_hh = getattr(self, f"weight_ih{sfx}"), getattr(self, f"weight_hh{sfx}")
        b_ih = getattr(self, f"bias_ih{sfx}") if self.bias else None
        b_hh = getattr(self, f"bias_hh{sfx}") if self.bias else None
        steps, batch, features = x.shape
        # The input's share of the pre-activations, for all T steps in one matmul.
        flat_x = x.reshape(steps * batch, features)
        if b_ih is None:
            xi = flat_x @ w_ih.t()
        else:
            in_bias = b_ih + b_hh if self.folds_hh_bias else b_ih
            xi = torch.addmm(in_bias, flat_x, w_ih.t())
        # unbind, not xi[t]: its backward writes all T gradients at once, where indexing would
        # allocate a zero [T, B, G*H] gradient for every step.
        xi_steps = xi.view(steps, batch, w_ih.shape[0]).unbind(0)
        if direction == 1:
            xi_steps = xi_steps[::-1]
        w_hh_t = w_hh.t()
        outputs = []
        for xi_t in xi_steps:
            state = self.step(xi_t, state, w_hh_t, b_hh)
            outputs.append(state[0] if self.state_is_pair else state)
        if direction == 1:
            outputs.reverse()
        return torch.stack(outputs), state

    def _check_input(self, x: Tensor) -> bool:
        """Raise UserError on a bad input; return whether it is batched."""
        name = type(self).__name__
        layout = "[B, T, input_size]" if self.batch_first else "[T, B, input_size]"
        if isinstance(x, PackedSequence):
            raise UserError(f"{name} takes padded tensors {layout}, not a PackedSequence; pad it")
        if not isinstance(x, Tensor):
            raise UserError(f"{name} expects input a tensor {layout}, got {type(x).__name__}")
        if x.dim() not in (2, 3):
            raise UserError(
                f"{name} expects input of shape {layout} (or unbatched [T, input_size]), got "
                f"shape {tuple(x.shape)}; add or remove a dimension"
            )
        if x.shape[-1] != self.input_size:
            raise UserError(
                f"{name} expects input's last dimension = input_size {self.input_size}, got "
                f"shape {tuple(x.shape)}; build the layer with input_size={x.shape[-1]}"
            )
        time_dim = 1 if self.batch_first and x.dim() == 3 else 0
        if x.shape[time_dim] == 0:
            raise UserError(f"{name} expects at least one time step, got input {tuple(x.shape)}")
        if x.dtype != self.weight_ih_l0.dtype:
            raise UserError(
                f"{name} has {self.weight_ih_l0.dtype} parameters but got a {x.dtype} input; "
                f"convert one of them (e.g. model.to({x.dtype}))"
            )
        return x.dim() == 3

    def _initial_states(self, h0: State | None, x: Tensor, batched: bool) -> list[State]:
        """Per (layer, direction), in h_n order, the starting state: [B, H] (or a pair)."""
        count, batch = self.num_layers * self.num_directions, x.shape[1]
        if h0 is None:
            zeros = x.new_zeros(batch, self.hidden_size)
            return [(zeros, zeros) if self.state_is_pair else zeros] * count
        name = type(self).__name__
        if self.state_is_pair:
            is_sequence = isinstance(h0, tuple | list)
            if not (is_sequence and len(h0) == 2):
                got = type(h0).__name__ + (f" of length {len(h0)}" if is_sequence else "")
                raise UserError(f"{name} expects h0 a tuple (h0, c0) of tensors, got a {got}")
            parts = list(h0)
        else:
            if not isinstance(h0, Tensor):
                raise UserError(f"{name} expects h0 a tensor, got {type(h0).__name__}")
            parts = [h0]
        expected = (count, batch, self.hidden_size) if batched else (count, self.hidden_size)
        for label, part in zip(["h0", "c0"], parts, strict=False):
            if not isinstance(part, Tensor) or tuple(part.shape) != expected:
                got = tuple(part.shape) if isinstance(part, Tensor) else type(part).__name__
                raise UserError(
                    f"{name} expects {label} of shape {expected} [num_layers * num_directions, "
                    f"{'batch, ' if batched else ''}hidden_size], got {got}"
                )
            if part.dtype != x.dtype:
                raise UserError(f"{name} expects {label} of dtype {x.dtype}, got {part.dtype}")
        per_part = [(p if batched else p.unsqueeze(1)).unbind(0) for p in parts]
        return list(zip(*per_part, strict=True)) if self.state_is_pair else list(per_part[0])

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0}
        defaults["bidirectional"] = False
        for key, default in defaults.items():
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        return text


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise UserError(f"RNN expects nonlinearity 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        )
        self.nonlinearity = nonlinearity

    def step(self, xi: Tensor, state: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return cell(xi, state, w_hh_t)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else f"{text}, nonlinearity='relu'"


class GRU(_Recurrent):
    """Gated recurrent unit: reset gate r, update gate z, candidate n (torch's row order)."""

    gate_count = 3
    folds_hh_bias = False  # b_hn sits inside r * (h W_hn^T + b_hn)

    def step(self, xi: Tensor, state: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
        return gru_cell(xi, state, w_hh_t, b_hh)


class LSTM(_Recurrent):
    """Long short-term memory: input i, forget f, candidate g, output o (torch's row order).

    h0 and h_n are pairs (h, c) of [num_layers * num_directions, B, H] tensors.
    """

    gate_count = 4
    state_is_pair = True

    def step(
        self, xi: Tensor, state: tuple[Tensor, Tensor], w_hh_t: Tensor, b_hh: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        return lstm_cell(xi, state, w_hh_t)


SCRATCH_LAYERS: dict[str, type[_Recurrent]] = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
TORCH_LAYERS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def make_recurrent(
    cell: str,
    impl: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    batch_first: bool = False,
) -> nn.Module:
    """A recurrent layer by name: cell in {"rnn", "gru", "lstm"}, impl "scratch" (this file)
    or "torch" (nn.RNN / nn.GRU / nn.LSTM). Both have the same parameters and call signature."""
    impls = {"scratch": SCRATCH_LAYERS, "torch": TORCH_LAYERS}
    if impl not in impls:
        hint = _hint(impl, impls)
        raise UserError(f"unknown recurrent impl {impl!r}{hint}; use scratch or torch")
    key = cell.lower() if isinstance(cell, str) else cell
    if key not in SCRATCH_LAYERS:
        raise UserError(
            f"unknown recurrent cell {cell!r}{_hint(key, SCRATCH_LAYERS)}; use rnn, gru or lstm"
        )
    return impls[impl][key](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
    )


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _hint(name: object, known: dict) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
