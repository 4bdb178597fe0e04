"""TensorLoader against its twins: DataLoader (same batches) and DistributedSampler (same shards).

Exact equality throughout: the loader only reorders rows, so there is no tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from scratchdl.data import TensorLoader
from scratchdl.data import loader as loader_module
from scratchdl.errors import UserError


def make(n: int, feat: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """x row i is (i, i+0.5, ...) so every batch reveals which rows it holds."""
    y = torch.arange(n)
    x = y[:, None].float() + torch.arange(feat).float()[None] * 0.5
    return x, y


def rows(loader: TensorLoader) -> torch.Tensor:
    batches = list(loader)
    for xb, yb in batches:
        assert torch.equal(xb[:, 0], yb.float())  # x and y stay paired
    return torch.cat([yb for _, yb in batches]) if batches else torch.empty(0, dtype=torch.long)


@pytest.mark.parametrize("n, bs", [(10, 3), (10, 10), (10, 1), (1, 4), (257, 256)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_example_once_per_epoch(n, bs, shuffle):
    loader = TensorLoader(*make(n), batch_size=bs, shuffle=shuffle, seed=5)
    for epoch in range(3):
        loader.set_epoch(epoch)
        seen = rows(loader)
        assert torch.equal(seen.sort().values, torch.arange(n))
        assert len(list(loader)) == len(loader) == -(-n // bs)
        assert loader.num_examples == n
    if not shuffle:
        assert torch.equal(seen, torch.arange(n))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("chunk_bytes", [1, 130, loader_module.CHUNK_BYTES])
def test_same_batches_as_dataloader(shuffle, drop_last, chunk_bytes, monkeypatch):
    # twin: DataLoader fed by DistributedSampler(num_replicas=1) uses the same seed+epoch scheme;
    # small chunk_bytes force several gathers per epoch: with rows of 12 bytes and batch 5,
    # 1 -> one batch per gather, 130 -> two batches per gather
    monkeypatch.setattr(loader_module, "CHUNK_BYTES", chunk_bytes)
    x, y = make(23)
    loader = TensorLoader(x, y, batch_size=5, shuffle=shuffle, seed=11, drop_last=drop_last)
    ds = TensorDataset(x, y)
    sampler = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=shuffle, seed=11)
    for epoch in (0, 4):
        loader.set_epoch(epoch)
        sampler.set_epoch(epoch)
        ref = list(DataLoader(ds, batch_size=5, sampler=sampler, drop_last=drop_last))
        ours = list(loader)
        assert len(ours) == len(ref) == len(loader)
        for (xb, yb), (rx, ry) in zip(ours, ref, strict=True):
            assert torch.equal(xb, rx) and torch.equal(yb, ry)


def test_drop_last():
    loader = TensorLoader(*make(10), batch_size=4, shuffle=True, drop_last=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 2 and loader.num_examples == 8
    assert all(len(yb) == 4 for _, yb in batches)
    loader = TensorLoader(*make(3), batch_size=4, drop_last=True)
    assert list(loader) == [] and len(loader) == 0 and loader.num_examples == 0


def test_order_is_a_function_of_seed_and_epoch_only():
    x, y = make(50)
    a = TensorLoader(x, y, batch_size=7, shuffle=True, seed=3)
    b = TensorLoader(x, y, batch_size=7, shuffle=True, seed=3)
    torch.manual_seed(0)
    first = rows(a)
    torch.manual_seed(12345)  # the global RNG must not matter...
    torch.rand(10)
    assert torch.equal(rows(b), first)
    state = torch.get_rng_state()
    rows(a)
    assert torch.equal(torch.get_rng_state(), state)  # ...nor be consumed
    assert torch.equal(rows(a), first)  # same epoch, same order (no implicit advance)
    a.set_epoch(1)
    second = rows(a)
    assert not torch.equal(second, first)
    b.set_epoch(1)
    assert torch.equal(rows(b), second)  # resuming at epoch 1 replays epoch 1 exactly
    c = TensorLoader(x, y, batch_size=7, shuffle=True, seed=4)
    assert not torch.equal(rows(c), first)


@pytest.mark.parametrize("n", [1, 2, 10, 11, 13])
@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_match_distributed_sampler(n, world_size, shuffle):
    x, y = make(n)
    ds = TensorDataset(x, y)
    per_rank = -(-n // world_size)
    for epoch in (0, 2):
        union = []
        for rank in range(world_size):
            loader = TensorLoader(
                x, y, batch_size=4, shuffle=shuffle, seed=7, rank=rank, world_size=world_size
            )
            loader.set_epoch(epoch)
            sampler = DistributedSampler(
                ds, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=7
            )
            sampler.set_epoch(epoch)
            ours = rows(loader)
            assert ours.tolist() == list(sampler)
            assert len(ours) == loader.num_examples == per_rank
            assert len(loader) == -(-per_rank // 4)
            union.append(ours)
        assert set(torch.cat(union).tolist()) == set(range(n))


def test_shards_are_disjoint_when_divisible():
    x, y = make(12)
    shards = []
    for rank in range(3):
        loader = TensorLoader(x, y, batch_size=5, shuffle=True, rank=rank, world_size=3)
        shards.append(set(rows(loader).tolist()))
    assert all(len(s) == 4 for s in shards)
    assert set().union(*shards) == set(range(12)) and sum(map(len, shards)) == 12


def test_unshuffled_batches_are_views_and_device_move():
    x, y = make(8)
    xb, yb = next(iter(TensorLoader(x, y, batch_size=4)))
    assert xb.data_ptr() == x.data_ptr()  # no copy on the plain path
    xb, yb = next(iter(TensorLoader(x, y, batch_size=4, shuffle=True, device="cpu")))
    assert xb.device.type == "cpu" and xb.dtype == torch.float32 and yb.dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_batches_move_to_cuda():
    x, y = make(9)
    loader = TensorLoader(x, y, batch_size=4, shuffle=True, device="cuda")
    seen = torch.cat([yb for _, yb in loader])
    assert seen.device.type == "cuda" and sorted(seen.tolist()) == list(range(9))
    on_gpu = TensorLoader(x.cuda(), y.cuda(), batch_size=4, shuffle=True)  # data already there
    assert sorted(torch.cat([yb for _, yb in on_gpu]).tolist()) == list(range(9))


def test_empty_dataset():
    loader = TensorLoader(
        torch.empty(0, 3),
        torch.empty(0, dtype=torch.long),
        batch_size=4,
        shuffle=True,
        world_size=2,
        rank=1,
    )
    assert list(loader) == [] and len(loader) == 0 and loader.num_examples == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size: expected >= 1"),
        ({"batch_size": -3}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size: expected an int"),
        ({"batch_size": True}, "batch_size: expected an int"),
        ({"batch_size": 2, "rank": 2, "world_size": 2}, r"rank: expected in 0\.\.1"),
        ({"batch_size": 2, "rank": -1}, "rank"),
        ({"batch_size": 2, "world_size": 0}, "world_size"),
        ({"batch_size": 2, "seed": "0"}, "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    x, y = make(6)
    with pytest.raises(UserError, match=match):
        TensorLoader(x, y, **kwargs)


def test_bad_tensors():
    x, y = make(6)
    with pytest.raises(UserError, match=r"same first dimension.*\(6, 3\) and \(5,\)"):
        TensorLoader(x, y[:5], batch_size=2)
    with pytest.raises(UserError, match="torch.Tensor"):
        TensorLoader(x.numpy(), y, batch_size=2)
    with pytest.raises(UserError, match="epoch"):
        TensorLoader(x, y, batch_size=2).set_epoch(-1)
