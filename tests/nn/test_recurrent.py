"""From-scratch RNN / GRU / LSTM vs torch.nn: same init, same state-dict names, same outputs,
final states and gradients (float64, atol 1e-10), plus TBPTT helpers and gradient clipping."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from scratchdl.errors import UserError
from scratchdl.nn import GRU, LSTM, RNN, clip_grad_norm, detach_state, make_recurrent
from scratchdl.nn.rnn_cells import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell

ATOL = 1e-10  # float64; the two sides only differ in summation order
CELLS = ["rnn", "rnn_relu", "gru", "lstm"]


def build_pair(cell: str, input_size: int = 4, hidden_size: int = 5, **kwargs):
    """Ours and torch's layer, float64, ours loaded from torch's (random) state dict."""
    ours_cls, torch_cls = {"rnn": (RNN, nn.RNN), "gru": (GRU, nn.GRU), "lstm": (LSTM, nn.LSTM)}[
        cell.removesuffix("_relu")
    ]
    if cell == "rnn_relu":
        kwargs["nonlinearity"] = "relu"
    theirs = torch_cls(input_size, hidden_size, **kwargs).double()
    ours = ours_cls(input_size, hidden_size, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def random_h0(cell: str, count: int, batch: int | None, hidden: int, gen: torch.Generator):
    shape = (count, hidden) if batch is None else (count, batch, hidden)
    h0 = torch.randn(shape, dtype=torch.float64, generator=gen)
    if cell == "lstm":
        return (h0, torch.randn(shape, dtype=torch.float64, generator=gen))
    return h0


def as_tuple(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def forward_backward(model: nn.Module, x: torch.Tensor, h0, loss_weights_seed: int = 7):
    """Run model, backprop a random weighted sum of output and h_n; return everything."""
    x = x.clone().requires_grad_()
    h0 = None if h0 is None else tuple(s.clone().requires_grad_() for s in as_tuple(h0))
    call_h0 = h0 if h0 is None or len(h0) == 2 else h0[0]
    output, h_n = model(x, call_h0)
    gen = torch.Generator().manual_seed(loss_weights_seed)
    loss = (output * torch.randn(output.shape, dtype=output.dtype, generator=gen)).sum()
    for state in as_tuple(h_n):
        loss = loss + (state * torch.randn(state.shape, dtype=state.dtype, generator=gen)).sum()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads["input"] = x.grad
    for i, s in enumerate(h0 or ()):
        grads[f"h0[{i}]"] = s.grad
    return output, as_tuple(h_n), grads


def check_twins(ours, theirs, x, h0) -> None:
    out_a, h_a, grads_a = forward_backward(ours, x, h0)
    out_b, h_b, grads_b = forward_backward(theirs, x, h0)
    torch.testing.assert_close(out_a, out_b, atol=ATOL, rtol=0)
    assert len(h_a) == len(h_b)
    for a, b in zip(h_a, h_b, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert grads_a[name] is not None, name
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=ATOL, rtol=0, msg=name)


# (num_layers, bidirectional, batch_first, bias, T, B): stacks, both directions, edge sizes
CONFIGS = [
    (1, False, False, True, 6, 3),
    (2, False, False, True, 5, 2),
    (1, True, False, True, 4, 3),
    (3, True, False, True, 3, 2),
    (2, True, True, True, 4, 3),  # batch_first
    (2, False, False, False, 4, 2),  # no biases
    (1, False, False, True, 5, 1),  # batch of one
    (2, True, False, True, 1, 3),  # length one
    (1, True, True, True, 1, 1),  # both
]


@pytest.mark.parametrize("with_h0", [False, True], ids=["h0=None", "h0"])
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "L{}-bi{:d}-bf{:d}-bias{:d}-T{}-B{}".format(*c)
)
@pytest.mark.parametrize("cell", CELLS)
def test_layers_match_torch_outputs_states_and_gradients(cell, config, with_h0) -> None:
    num_layers, bidirectional, batch_first, bias, steps, batch = config
    torch.manual_seed(hash((cell, config)) % 1000)
    ours, theirs = build_pair(
        cell, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias
    )
    gen = torch.Generator().manual_seed(1)
    shape = (batch, steps, 4) if batch_first else (steps, batch, 4)
    x = torch.randn(shape, dtype=torch.float64, generator=gen)
    count = num_layers * (2 if bidirectional else 1)
    h0 = random_h0(cell, count, batch, 5, gen) if with_h0 else None
    check_twins(ours, theirs, x, h0)


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input_matches_torch(cell) -> None:
    ours, theirs = build_pair(cell, num_layers=2, bidirectional=True)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(5, 4, dtype=torch.float64, generator=gen)  # [T, in], no batch dimension
    check_twins(ours, theirs, x, None)
    check_twins(ours, theirs, x, random_h0(cell, 4, None, 5, gen))
    output, _ = ours(x)
    assert output.shape == (5, 10)


@pytest.mark.parametrize("cell", CELLS)
def test_empty_batch_gives_torch_shapes(cell) -> None:
    ours, theirs = build_pair(cell, num_layers=2, bidirectional=True)
    x = torch.zeros(3, 0, 4, dtype=torch.float64)
    out_a, h_a = ours(x)
    out_b, h_b = theirs(x)
    assert out_a.shape == out_b.shape == (3, 0, 10)
    for a, b in zip(as_tuple(h_a), as_tuple(h_b), strict=True):
        assert a.shape == b.shape == (4, 0, 5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_same_seed_gives_torch_init_and_state_dict_loads_both_ways(cell) -> None:
    kwargs = dict(num_layers=2, bidirectional=True, dropout=0.1)
    torch.manual_seed(11)
    ours = make_recurrent(cell, "scratch", 3, 16, **kwargs)
    torch.manual_seed(11)
    theirs = make_recurrent(cell, "torch", 3, 16, **kwargs)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)  # names, in the same order
    for name in ours_sd:
        assert ours_sd[name].shape == theirs_sd[name].shape, name
        assert torch.equal(ours_sd[name], theirs_sd[name]), name  # bit-identical draws
        assert ours_sd[name].abs().max() <= 1 / math.sqrt(16)
    # Both directions with strict loading: fresh (differently initialised) layers take them.
    fresh_ours, fresh_theirs = make_recurrent(cell, "scratch", 3, 16, **kwargs), theirs
    fresh_ours.load_state_dict(theirs_sd)
    fresh_theirs.load_state_dict(ours.state_dict())
    assert all(torch.equal(fresh_ours.state_dict()[k], theirs_sd[k]) for k in theirs_sd)


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_in_eval_mode_equals_torch_and_in_train_mode_follows_the_seed(cell) -> None:
    ours, theirs = build_pair(cell, num_layers=3, bidirectional=True, dropout=0.5)
    x = torch.randn(4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ours.eval()
    theirs.eval()
    check_twins(ours, theirs, x, None)
    eval_output = ours(x)[0]
    ours.train()
    theirs.train()
    torch.manual_seed(5)
    train_a = ours(x)[0]
    torch.manual_seed(5)
    train_b = theirs(x)[0]
    assert not torch.allclose(train_a, eval_output)  # dropout is really on in training
    # Same seed, same masks: both draw one bernoulli mask per inner layer output, in order.
    torch.testing.assert_close(train_a, train_b, atol=ATOL, rtol=0)


def test_dropout_with_one_layer_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="num_layers=1"):
        LSTM(3, 4, dropout=0.2)


@pytest.mark.parametrize("cell", CELLS)
def test_single_step_cells_match_torch_cells(cell) -> None:
    """The equations of rnn_cells.py against nn.RNNCell / GRUCell / LSTMCell, with gradients."""
    batch, inputs, hidden = 3, 4, 6
    base = cell.removesuffix("_relu")
    torch_cls = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}[base]
    kwargs = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
    theirs = torch_cls(inputs, hidden, **kwargs).double()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(batch, inputs, dtype=torch.float64, generator=gen, requires_grad=True)
    h = torch.randn(batch, hidden, dtype=torch.float64, generator=gen, requires_grad=True)
    c = torch.randn(batch, hidden, dtype=torch.float64, generator=gen, requires_grad=True)
    w_ih, w_hh, b_ih, b_hh = theirs.weight_ih, theirs.weight_hh, theirs.bias_ih, theirs.bias_hh
    if base == "gru":
        ours_h = gru_cell(x @ w_ih.t() + b_ih, h, w_hh.t(), b_hh)
    else:
        xi = x @ w_ih.t() + b_ih + b_hh
        if base == "lstm":
            ours_h, ours_c = lstm_cell(xi, (h, c), w_hh.t())
        else:
            ours_h = (rnn_relu_cell if cell == "rnn_relu" else rnn_tanh_cell)(xi, h, w_hh.t())
    theirs_out = theirs(x, (h, c)) if base == "lstm" else theirs(x, h)
    ours_out = (ours_h, ours_c) if base == "lstm" else (ours_h,)
    leaves = [x, h, w_ih, w_hh, b_ih, b_hh] + ([c] if base == "lstm" else [])
    ours_grads = torch.autograd.grad(sum(o.sin().sum() for o in ours_out), leaves)
    theirs_grads = torch.autograd.grad(sum(o.sin().sum() for o in as_tuple(theirs_out)), leaves)
    for a, b in zip(ours_out, as_tuple(theirs_out), strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_make_recurrent_builds_both_implementations() -> None:
    for cell, ours_cls, torch_cls in [("rnn", RNN, nn.RNN), ("gru", GRU, nn.GRU)]:
        assert type(make_recurrent(cell, "scratch", 3, 4)) is ours_cls
        assert type(make_recurrent(cell, "torch", 3, 4)) is torch_cls
    ours = make_recurrent("LSTM", "scratch", 3, 4, 2, True, 0.25, True)
    theirs = make_recurrent("lstm", "torch", 3, 4, 2, True, 0.25, True)
    assert type(ours) is LSTM and type(theirs) is nn.LSTM
    for attr in ["input_size", "hidden_size", "num_layers", "bidirectional", "dropout"]:
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.batch_first and theirs.batch_first


def check_user_error(match: str, fn, *args, **kwargs) -> None:
    with pytest.raises(UserError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_make_recurrent_rejects_unknown_names_with_a_hint() -> None:
    check_user_error("did you mean 'lstm'", make_recurrent, "lstn", "scratch", 3, 4)
    check_user_error("did you mean 'torch'", make_recurrent, "gru", "torhc", 3, 4)
    check_user_error("use rnn, gru or lstm", make_recurrent, "transformer", "scratch", 3, 4)


def test_bad_inputs_raise_one_line_user_errors() -> None:
    lstm = LSTM(4, 5, num_layers=2)
    check_user_error(r"input of shape \[T, B, input_size\].*got shape \(4,\)", lstm, torch.zeros(4))
    check_user_error(r"got shape \(1, 2, 3, 4\)", lstm, torch.zeros(1, 2, 3, 4))
    check_user_error(r"input_size 4, got shape \(3, 2, 7\)", lstm, torch.zeros(3, 2, 7))
    check_user_error("at least one time step", lstm, torch.zeros(0, 2, 4))
    check_user_error(
        "float32 parameters but got a torch.float64", lstm, torch.zeros(3, 2, 4).double()
    )
    check_user_error(
        "not a PackedSequence", lstm, pack_padded_sequence(torch.zeros(3, 2, 4), [3, 2])
    )
    x = torch.zeros(3, 2, 4)
    h_good = torch.zeros(2, 2, 5)
    check_user_error(r"h0 a tuple \(h0, c0\) of tensors, got a Tensor", lstm, x, h_good)
    check_user_error("got a tuple of length 3", lstm, x, (h_good, h_good, h_good))
    check_user_error(r"h0 of shape \(2, 2, 5\).*got \(1, 2, 5\)", lstm, x, (h_good[:1], h_good))
    check_user_error(
        r"c0 of shape \(2, 2, 5\).*got \(2, 3, 5\)", lstm, x, (h_good, torch.zeros(2, 3, 5))
    )
    gru = GRU(4, 5, bidirectional=True)  # needs 2 = num_layers * num_directions states
    check_user_error(r"h0 of shape \(2, 2, 5\).*got \(1, 2, 5\)", gru, x, torch.zeros(1, 2, 5))
    check_user_error("h0 of dtype torch.float32", gru, x, torch.zeros(2, 2, 5).double())
    check_user_error(
        r"shape \(2, 5\).*got \(2, 1, 5\)", gru, torch.zeros(3, 4), torch.zeros(2, 1, 5)
    )
    batch_first = RNN(4, 5, batch_first=True)
    check_user_error(r"\[B, T, input_size\]", batch_first, torch.zeros(2))


def test_bad_constructor_arguments_raise_user_errors() -> None:
    check_user_error("nonlinearity 'tanh' or 'relu'", RNN, 3, 4, nonlinearity="gelu")
    check_user_error("dropout a probability", GRU, 3, 4, num_layers=2, dropout=1.5)
    check_user_error("hidden_size a positive int", LSTM, 3, 0)
    check_user_error("num_layers an int >= 1", LSTM, 3, 4, num_layers=0)


# ---- truncated backpropagation through time ----


def test_detach_state_cuts_gradient_at_the_window_but_keeps_values_flowing() -> None:
    torch.manual_seed(0)
    model = LSTM(3, 8, num_layers=2).double()
    gen = torch.Generator().manual_seed(6)
    window1 = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    window2 = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen, requires_grad=True)

    out1, state = model(window1)
    out2, _ = model(window2, detach_state(state))
    out2.sum().backward()
    assert window1.grad is None  # the earlier window is outside the graph
    assert window2.grad is not None and window2.grad.abs().sum() > 0

    # Control: without detach, the gradient reaches window 1 (so the check above can fail).
    _, state = model(window1)
    model(window2, state)[0].sum().backward()
    assert window1.grad is not None and window1.grad.abs().sum() > 0

    # Values still flow: window 2's output depends on window 1's input ...
    with torch.no_grad():
        _, other_state = model(window1 + 1.0)
        other_out2 = model(window2, detach_state(other_state))[0]
    assert (other_out2 - out2).abs().max() > 1e-3
    # ... and carrying the state over windows equals running the whole sequence at once.
    whole = model(torch.cat([window1, window2]))[0]
    torch.testing.assert_close(torch.cat([out1, out2]), whole, atol=ATOL, rtol=0)


def test_detach_state_keeps_structure() -> None:
    h = torch.ones(2, 3, requires_grad=True) * 2
    c = torch.ones(2, 3, requires_grad=True) * 3
    assert detach_state(None) is None
    single = detach_state(h)
    assert not single.requires_grad and torch.equal(single, h)
    pair = detach_state((h, c))
    assert isinstance(pair, tuple) and len(pair) == 2
    assert all(not s.requires_grad for s in pair) and torch.equal(pair[1], c)
    nested = detach_state([(h, c), h])
    assert isinstance(nested, list) and not nested[0][1].requires_grad
    check_user_error("tensor or a tuple/list", detach_state, {"h": h})


# ---- gradient clipping ----


def grads_pair(seed: int):
    """Two identical parameter lists with gradients, one with a missing gradient."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 2, 2), (5,)]
    params = [torch.randn(s, dtype=torch.float64, generator=gen).requires_grad_() for s in shapes]
    for p in params[:-1]:  # the last one has no gradient and must be skipped
        p.grad = torch.randn(p.shape, dtype=torch.float64, generator=gen)
    twins = [p.detach().clone().requires_grad_() for p in params]
    for t, p in zip(twins, params, strict=True):
        t.grad = None if p.grad is None else p.grad.clone()
    return params, twins


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clipped", "untouched"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm) -> None:
    ours, theirs = grads_pair(seed=int(max_norm) % 97)
    before = [p.grad.clone() for p in ours if p.grad is not None]
    total_ours = clip_grad_norm(ours, max_norm, norm_type)
    total_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    torch.testing.assert_close(total_ours, total_theirs, atol=1e-12, rtol=0)
    for a, b in zip(ours, theirs, strict=True):
        if a.grad is None:
            assert b.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-12, rtol=0)
    after = [p.grad for p in ours if p.grad is not None]
    if max_norm > 1e3:
        assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))
    else:  # clipped to the limit, every gradient scaled by the same factor
        flat = torch.cat([g.flatten() for g in after])
        assert abs(torch.linalg.vector_norm(flat, norm_type).item() - max_norm) < 1e-5
        factors = [a.norm() / b.norm() for a, b in zip(after, before, strict=True)]
        assert max(factors) - min(factors) < 1e-12


def test_clip_grad_norm_edge_cases() -> None:
    single = torch.ones(3, requires_grad=True)
    single.grad = torch.full((3,), 4.0)  # norm sqrt(48)
    total = clip_grad_norm(single, 1.0)
    assert math.isclose(total.item(), math.sqrt(48), rel_tol=1e-6)
    assert math.isclose(single.grad.norm().item(), 1.0, rel_tol=1e-5)
    no_grads = [torch.ones(2, requires_grad=True)]
    assert clip_grad_norm(no_grads, 1.0).item() == 0.0
    assert clip_grad_norm([], 1.0).item() == 0.0
