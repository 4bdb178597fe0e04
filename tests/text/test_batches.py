"""Minibatch partitioning: both modes equal a plain-Python twin of the book's iterators (exact,
integer ids), Y is X shifted by one, sequential rows continue across batches, random mode
covers every subsequence once per epoch, and bad arguments are UserErrors."""

from __future__ import annotations

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.text import random_batches, sequential_batches


def book_sequential(corpus: list[int], batch_size: int, num_steps: int, offset: int):
    """The book's seq_data_iter_sequential with a given offset, on Python lists, token by token."""
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    xs = corpus[offset : offset + num_tokens]
    ys = corpus[offset + 1 : offset + 1 + num_tokens]
    row = num_tokens // batch_size
    x_rows = [xs[i * row : (i + 1) * row] for i in range(batch_size)]
    y_rows = [ys[i * row : (i + 1) * row] for i in range(batch_size)]
    for t in range(0, (row // num_steps) * num_steps, num_steps):
        yield [r[t : t + num_steps] for r in x_rows], [r[t : t + num_steps] for r in y_rows]


def book_random(corpus: list[int], batch_size: int, num_steps: int, offset: int, order):
    """The book's seq_data_iter_random with a given offset and order of subsequences."""
    corpus = corpus[offset:]
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = [i * num_steps for i in range(num_subseqs)]
    starts = [starts[j] for j in order]
    for b in range(num_subseqs // batch_size):
        chosen = starts[b * batch_size : (b + 1) * batch_size]
        yield ([corpus[s : s + num_steps] for s in chosen],
               [corpus[s + 1 : s + 1 + num_steps] for s in chosen])  # fmt: skip


@pytest.mark.parametrize("n, batch_size, num_steps, offset", [
    (1000, 4, 7, 0), (1000, 4, 7, 3), (101, 1, 5, 0), (57, 3, 2, 5), (33, 2, 16, 0),
])  # fmt: skip
def test_sequential_equals_the_books_iterator(n, batch_size, num_steps, offset):
    ids = torch.randint(0, 50, (n,), generator=torch.Generator().manual_seed(n))
    got = list(sequential_batches(ids, batch_size, num_steps, offset))
    want = list(book_sequential(ids.tolist(), batch_size, num_steps, offset))
    assert len(got) == len(want) > 0
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert x.dtype == y.dtype == torch.int64
        assert x.shape == y.shape == (batch_size, num_steps)
        assert x.tolist() == wx and y.tolist() == wy


@pytest.mark.parametrize("n, batch_size, num_steps, seed", [
    (1000, 4, 7, 0), (1000, 4, 7, 1), (101, 1, 5, 2), (64, 3, 4, 3), (21, 4, 5, 4),
])  # fmt: skip
def test_random_equals_the_books_iterator_on_the_same_draws(n, batch_size, num_steps, seed):
    ids = torch.randint(0, 50, (n,), generator=torch.Generator().manual_seed(n))
    got = list(random_batches(ids, batch_size, num_steps, torch.Generator().manual_seed(seed)))
    # the same draws, in the documented order: the offset, then the order of subsequences
    g = torch.Generator().manual_seed(seed)
    offset = int(torch.randint(min(num_steps, n - batch_size * num_steps), (1,), generator=g))
    order = torch.randperm((n - offset - 1) // num_steps, generator=g).tolist()
    want = list(book_random(ids.tolist(), batch_size, num_steps, offset, order))
    assert len(got) == len(want) > 0
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert x.shape == y.shape == (batch_size, num_steps) and x.dtype == torch.int64
        assert x.tolist() == wx and y.tolist() == wy


def test_y_is_x_shifted_by_one_in_both_modes():
    ids = torch.arange(500)  # id == position, so "shifted by one" is "plus one"
    for x, y in sequential_batches(ids, 3, 10, offset=2):
        assert torch.equal(y, x + 1)
    for x, y in random_batches(ids, 3, 10, torch.Generator().manual_seed(0)):
        assert torch.equal(y, x + 1)
        assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # each row is a contiguous stretch


def test_sequential_rows_continue_exactly_across_batches():
    ids = torch.arange(10_007)
    batches = list(sequential_batches(ids, 8, 35, offset=5))
    for (x0, y0), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # row i of t+1 starts where row i of t ended
        assert torch.equal(x1[:, 0], y0[:, -1])
    first = batches[0][0][:, 0]
    assert first[0] == 5 and torch.all(first.diff() == first[1] - first[0])  # equal-length rows


def test_random_mode_covers_every_subsequence_once_per_epoch():
    ids = torch.arange(1003)
    gen = torch.Generator().manual_seed(7)
    seen_offsets = set()
    for _ in range(20):
        starts = torch.cat([x[:, 0] for x, _ in random_batches(ids, 5, 10, gen)])
        offset = int(starts.min() % 10)
        seen_offsets.add(offset)
        n = (1003 - offset - 1) // 10
        # every start is distinct, on the offset's grid, and all but the n % 5 left over appear
        assert len(set(starts.tolist())) == len(starts) == (n // 5) * 5
        assert torch.all(starts % 10 == offset)
        assert set(starts.tolist()) <= set(range(offset, offset + n * 10, 10))
    assert len(seen_offsets) > 3  # the offset really is drawn at random


def test_random_mode_is_reproducible_with_a_seeded_generator_and_varies_across_seeds():
    ids = torch.arange(400)

    def epoch(seed):
        batches = random_batches(ids, 4, 6, torch.Generator().manual_seed(seed))
        return [x.tolist() for x, _ in batches]

    assert epoch(3) == epoch(3)
    assert epoch(3) != epoch(4)


def test_smallest_corpora_still_give_one_batch():
    # exactly batch_size * num_steps + 1 tokens: one batch in both modes, whatever the draw
    ids = torch.arange(2 * 5 + 1)
    assert len(list(sequential_batches(ids, 2, 5))) == 1
    for seed in range(10):
        batches = list(random_batches(ids, 2, 5, torch.Generator().manual_seed(seed)))
        assert len(batches) == 1 and sorted(batches[0][0][:, 0].tolist()) == [0, 5]
    x, y = next(sequential_batches(torch.arange(2), 1, 1))  # batch of one, one step
    assert x.tolist() == [[0]] and y.tolist() == [[1]]


def test_int32_ids_come_out_int64_and_the_input_is_untouched():
    ids = torch.arange(100, dtype=torch.int32)
    x, y = next(sequential_batches(ids, 2, 3))
    assert x.dtype == y.dtype == torch.int64 and x.is_contiguous()
    x[:] = -1
    assert ids.min() == 0


@pytest.mark.parametrize("fn", ["sequential", "random"])
def test_bad_arguments_raise_user_errors_at_call_time(fn):
    def call(ids, batch_size=2, num_steps=3):
        if fn == "sequential":
            return sequential_batches(ids, batch_size, num_steps)
        return random_batches(ids, batch_size, num_steps, torch.Generator())

    ids = torch.arange(100)
    with pytest.raises(UserError, match="1-D integer tensor"):
        call(ids.float())
    with pytest.raises(UserError, match="1-D integer tensor"):
        call(ids.view(10, 10))
    with pytest.raises(UserError, match="1-D integer tensor"):
        call(list(range(100)))
    with pytest.raises(UserError, match="batch_size must be an int >= 1"):
        call(ids, batch_size=0)
    with pytest.raises(UserError, match="num_steps must be an int >= 1"):
        call(ids, num_steps=2.5)
    with pytest.raises(UserError, match="cannot fill one batch of 10 x 10"):
        call(ids, batch_size=10, num_steps=10)
    with pytest.raises(UserError, match="cannot fill one batch"):
        call(torch.arange(0))


def test_sequential_offset_errors():
    with pytest.raises(UserError, match="offset must be an int >= 0"):
        sequential_batches(torch.arange(100), 2, 3, offset=-1)
    with pytest.raises(UserError, match="offset 95 leaves 5 tokens"):
        sequential_batches(torch.arange(100), 2, 3, offset=95)
