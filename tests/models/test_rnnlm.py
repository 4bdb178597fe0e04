"""The recurrent language models (scratchdl.models.text.rnnlm) against hand compositions of
torch.nn, the from-scratch recurrent layers against torch's with the same weights, and the held-out
scoring, cloze windows (scratchdl.tasks.text._lm_eval) and batch stream (scratchdl.text.lm_data)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.text.rnnlm import RNNLM, ClozeLM, lm_loss
from scratchdl.nn.bptt import detach_state
from scratchdl.tasks.text._lm_eval import cloze_scores, cloze_windows, heldout_scores
from scratchdl.text.decoding import generate
from scratchdl.text.lm_data import BatchStream

V = 11
TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def _ids(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(V, shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- RNNLM


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("embed_size", [0, 6])
def test_torch_impl_equals_hand_composition(cell: str, embed_size: int) -> None:
    """impl=torch is embedding (or one-hot) -> nn.RNN/GRU/LSTM -> nn.Linear, nothing more."""
    torch.manual_seed(0)
    model = RNNLM(V, hidden_size=7, num_layers=2, cell=cell, impl="torch", embed_size=embed_size)
    model.eval()
    rnn = TORCH[cell](embed_size or V, 7, num_layers=2)
    rnn.load_state_dict(model.rnn.state_dict())
    decoder = nn.Linear(7, V)
    decoder.load_state_dict(model.decoder.state_dict())
    X = _ids(3, 5)
    if embed_size:
        emb = nn.Embedding(V, embed_size)
        emb.load_state_dict(model.input.embedding.state_dict())
        inputs = emb(X.T)
    else:
        inputs = F.one_hot(X.T, V).float()
    out, h_ref = rnn(inputs)
    expected = decoder(out).transpose(0, 1)
    logits, h = model(X)
    # the same kernels in the same order: equal to float32 rounding (atol 1e-6)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    pairs = zip(h, h_ref, strict=True) if cell == "lstm" else [(h, h_ref)]
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_scratch_impl_gives_torch_loss_and_gradients(cell: str) -> None:
    """Same weights, float64: the from-scratch recurrent layer gives torch's loss, gradients
    and carried state to 1e-10, over two windows with the state carried and detached."""
    torch.manual_seed(1)
    kw = {"hidden_size": 6, "num_layers": 2, "cell": cell, "embed_size": 5, "dropout": 0.0}
    fast = RNNLM(V, impl="torch", **kw).double()
    slow = RNNLM(V, impl="scratch", **kw).double()
    slow.load_state_dict(fast.state_dict())
    X, Y = _ids(4, 7, seed=2), _ids(4, 7, seed=3)
    state_f = state_s = None
    for window in (slice(0, 4), slice(4, 7)):
        lf, state_f = fast(X[:, window], detach_state(state_f))
        ls, state_s = slow(X[:, window], detach_state(state_s))
        loss_f, loss_s = lm_loss(lf, Y[:, window]), lm_loss(ls, Y[:, window])
        torch.testing.assert_close(loss_s, loss_f, rtol=0, atol=1e-10)
        fast.zero_grad()
        slow.zero_grad()
        loss_f.backward()
        loss_s.backward()
        grads = dict(fast.named_parameters())
        for name, p in slow.named_parameters():
            torch.testing.assert_close(p.grad, grads[name].grad, rtol=0, atol=1e-10)
    flat_f = state_f if cell == "lstm" else (state_f,)
    flat_s = state_s if cell == "lstm" else (state_s,)
    for a, b in zip(flat_s, flat_f, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_step_by_step_equals_whole_sequence(cell: str) -> None:
    """The generate adapter (one token at a time, state carried) is the same computation."""
    torch.manual_seed(2)
    model = RNNLM(V, hidden_size=8, num_layers=2, cell=cell).double().eval()
    X = _ids(2, 9, seed=4)
    whole, _ = model(X)
    state, steps = None, []
    for t in range(X.shape[1]):
        logits, state = model.step(X[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), whole, rtol=0, atol=1e-12)


def test_generation_runs_on_the_step_adapter() -> None:
    torch.manual_seed(3)
    model = RNNLM(V, hidden_size=8, cell="lstm").eval()
    out = generate(model.step, [1, 2, 3], 10)
    assert len(out) == 10 and all(0 <= t < V for t in out)


def test_batch_of_one_and_long_sequences() -> None:
    """No length limit: a recurrent model reads any length, one sequence or many."""
    torch.manual_seed(4)
    model = RNNLM(V, hidden_size=5, cell="gru").eval()
    X = _ids(1, 3000)
    logits, state = model(X)
    assert logits.shape == (1, 3000, V) and state.shape == (1, 1, 5)
    # a batch of one gives the same numbers as that row inside a batch
    batch, _ = model(torch.cat([X, _ids(1, 3000, seed=9)]))
    torch.testing.assert_close(batch[:1], logits, rtol=0, atol=1e-5)


def test_begin_state_is_what_none_means() -> None:
    model = RNNLM(V, hidden_size=4, num_layers=2, cell="lstm").eval()
    X = _ids(3, 5)
    a, _ = model(X)
    b, _ = model(X, model.begin_state(3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dropout_only_in_training() -> None:
    torch.manual_seed(5)
    model = RNNLM(V, hidden_size=16, num_layers=2, cell="lstm", dropout=0.5)
    X = _ids(2, 6)
    model.train()
    a, _ = model(X)
    b, _ = model(X)
    assert not torch.equal(a, b)
    model.eval()
    c, _ = model(X)
    d, _ = model(X)
    assert torch.equal(c, d)


def test_lm_loss_is_cross_entropy_and_uniform_perplexity_is_vocab_size() -> None:
    logits = torch.randn(3, 4, V, dtype=torch.float64)
    Y = _ids(3, 4)
    expected = F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
    torch.testing.assert_close(lm_loss(logits, Y), expected, rtol=0, atol=1e-15)
    uniform = torch.zeros(3, 4, V, dtype=torch.float64)
    assert math.isclose(math.exp(lm_loss(uniform, Y).item()), V, rel_tol=1e-12)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(4, dtype=torch.int64), r"\[batch, steps\]"),
        (torch.zeros(2, 3), "int64"),
        (torch.full((2, 3), V), r"\[0, 11\)"),
        (torch.full((2, 3), -1), r"\[0, 11\)"),
    ],
)
def test_bad_ids_are_clear_errors(bad: torch.Tensor, match: str) -> None:
    with pytest.raises(UserError, match=match):
        RNNLM(V, hidden_size=4)(bad)


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(UserError, match="cell"):
        RNNLM(V, cell="lstmm")
    with pytest.raises(UserError, match="impl"):
        RNNLM(V, impl="cuda")
    with pytest.raises(UserError, match="embed_size"):
        RNNLM(V, embed_size=-1)
    with pytest.raises(UserError, match=r"token ids \[batch\]"):
        RNNLM(V, hidden_size=4).step(torch.zeros(2, 1, dtype=torch.int64), None)


# ----------------------------------------------------------------------------- ClozeLM


def test_cloze_equals_hand_composition_and_never_sees_the_blank() -> None:
    torch.manual_seed(6)
    model = ClozeLM(V, hidden_size=5, cell="lstm", embed_size=4).eval()
    X = _ids(2, 8)
    emb = nn.Embedding(V, 4)
    emb.load_state_dict(model.input.embedding.state_dict())
    rnn = nn.LSTM(4, 5, bidirectional=True)
    rnn.load_state_dict(model.rnn.state_dict())
    out, _ = rnn(emb(X.T))  # [T, B, 10]
    feats = torch.cat([out[:-2, :, :5], out[2:, :, 5:]], dim=2)
    expected = (feats @ model.decoder.weight.T + model.decoder.bias).transpose(0, 1)
    logits = model(X)
    assert logits.shape == (2, 6, V)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    # changing token t changes every prediction but the one for t itself
    t = 4
    Z = X.clone()
    Z[:, t] = (Z[:, t] + 1) % V
    changed = (model(Z) - logits).abs().amax(dim=(0, 2))  # per predicted position 1..T-2
    assert changed[t - 1] == 0
    assert bool((torch.cat([changed[: t - 1], changed[t:]]) > 0).all())


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_cloze_scratch_equals_torch(cell: str) -> None:
    torch.manual_seed(7)
    fast = ClozeLM(V, hidden_size=4, num_layers=2, cell=cell, impl="torch").double().eval()
    slow = ClozeLM(V, hidden_size=4, num_layers=2, cell=cell, impl="scratch").double().eval()
    slow.load_state_dict(fast.state_dict())
    X = _ids(3, 6)
    torch.testing.assert_close(slow(X), fast(X), rtol=0, atol=1e-10)


def test_cloze_needs_three_steps() -> None:
    with pytest.raises(UserError, match="at least 3 steps"):
        ClozeLM(V, hidden_size=4)(_ids(2, 2))


# ----------------------------------------------------------------------------- scoring


def _single_pass_nll(model: RNNLM, ids: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits, _ = model(ids[:-1][None])
    losses = F.cross_entropy(logits[0], ids[1:], reduction="none")
    return losses.mean().item(), (logits[0].argmax(-1) == ids[1:]).double().mean().item()


@pytest.mark.parametrize("rows", [1, 3, 7])
def test_heldout_scores_equal_one_pass_when_rows_warm_up_fully(rows: int) -> None:
    """Rows that warm up on everything before them score exactly as one pass over the split
    (float64, 1e-10), whatever the row count and window length."""
    torch.manual_seed(8)
    model = RNNLM(V, hidden_size=6, cell="lstm").double().eval()
    ids = _ids(101, seed=5)
    nll, acc = _single_pass_nll(model, ids)
    got = heldout_scores(model, ids, rows=rows, num_steps=9, warmup=1000)
    assert math.isclose(got["loss"], nll, rel_tol=0, abs_tol=1e-10)
    assert math.isclose(got["perplexity"], math.exp(nll), rel_tol=1e-10)
    assert math.isclose(got["accuracy"], acc, abs_tol=1e-12)


def test_heldout_rows_without_warm_up_differ() -> None:
    """The warm-up matters (so the test above can fail): cold rows score differently."""
    torch.manual_seed(8)
    model = RNNLM(V, hidden_size=6, cell="lstm").double().eval()
    ids = _ids(101, seed=5)
    nll, _ = _single_pass_nll(model, ids)
    got = heldout_scores(model, ids, rows=7, num_steps=9, warmup=0)
    assert abs(got["loss"] - nll) > 1e-6


def test_heldout_scores_edge_cases() -> None:
    model = RNNLM(V, hidden_size=4).double().eval()
    two = torch.tensor([1, 2])
    got = heldout_scores(model, two, rows=64, num_steps=5, warmup=3)
    assert math.isclose(got["loss"], _single_pass_nll(model, two)[0], abs_tol=1e-12)
    with pytest.raises(UserError, match="at least 2"):
        heldout_scores(model, torch.tensor([1]))
    assert model.training is False  # scoring restores the mode it found


def test_cloze_windows_score_every_position_once() -> None:
    for N, span, context in [(50, 7, 3), (13, 7, 3), (7, 4, 3), (64, 8, 4), (100, 1, 1)]:
        ids = torch.arange(N)
        seen = torch.zeros(N, dtype=torch.int64)
        for windows in cloze_windows(ids, span, context):
            for w in windows:
                scored = w[context : len(w) - context]
                seen[scored] += 1
                assert len(w) <= span + 2 * context
        expected = torch.zeros(N, dtype=torch.int64)
        expected[context : N - context] = 1
        assert torch.equal(seen, expected), (N, span, context)
    with pytest.raises(UserError, match="no position"):
        cloze_windows(torch.arange(6), 4, 3)


def test_cloze_scores_equal_a_per_position_reference() -> None:
    """Each scored position predicted from its own window agrees with cloze_scores."""
    torch.manual_seed(9)
    model = ClozeLM(V, hidden_size=5).double().eval()
    ids, span, c = _ids(40, seed=6), 6, 3
    got = cloze_scores(model, None, ids, span, c, batch_size=2)
    nll, correct, count = 0.0, 0, 0
    for windows in cloze_windows(ids, span, c):
        for w in windows:
            with torch.no_grad():
                logits = model(w[None])[0]  # predictions for w[1:-1]
            for j in range(c, len(w) - c):
                nll -= F.log_softmax(logits[j - 1], -1)[w[j]].item()
                correct += int(logits[j - 1].argmax() == w[j])
                count += 1
    assert count == 40 - 2 * c
    assert math.isclose(got["loss"], nll / count, rel_tol=1e-10)
    assert math.isclose(got["accuracy"], correct / count, abs_tol=1e-12)


# ----------------------------------------------------------------------------- batch stream


def test_sequential_stream_continues_rows_across_batches_and_resumes_exactly() -> None:
    ids = torch.arange(1000)
    stream = BatchStream(ids, batch_size=4, num_steps=10, partition="sequential", seed=3)
    batches = [next(stream) for _ in range(60)]  # several passes (24 or so batches each)
    firsts = [i for i, (first, _, _) in enumerate(batches) if first]
    assert firsts[0] == 0 and len(firsts) >= 3
    for i in range(1, 60):
        first, X, _ = batches[i]
        if not first:  # row r of this batch starts where row r of the last one ended
            assert torch.equal(X[:, 0], batches[i - 1][2][:, -1])
    # a stream opened at a saved position yields what the original yielded next
    probe = BatchStream(ids, 4, 10, "sequential", seed=3)
    for _ in range(37):
        next(probe)
    resumed = BatchStream(ids, 4, 10, "sequential", seed=3, **probe.position())
    for i in range(37, 60):
        first, X, Y = next(resumed)
        assert first == batches[i][0] and torch.equal(X, batches[i][1])
    # passes start at different offsets, so the cuts differ from pass to pass
    assert len({int(batches[i][1][0, 0]) for i in firsts}) > 1


def test_random_stream_is_seeded() -> None:
    ids = torch.arange(500)
    a = [next(BatchStream(ids, 3, 8, "random", seed=1))[1] for _ in range(1)]
    b = [next(BatchStream(ids, 3, 8, "random", seed=1))[1] for _ in range(1)]
    c = [next(BatchStream(ids, 3, 8, "random", seed=2))[1] for _ in range(1)]
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    X = a[0]
    assert torch.equal(X[:, 1:] - X[:, :-1], torch.ones(3, 7, dtype=torch.int64))
