"""Our ring all-reduce and parameter server (train/collective.py) against torch's collectives
and DDP: gloo on CPU, 2 and 3 processes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from scratchdl.train.collective import ring_all_reduce
from tests.conftest import run_cli
from tests.train.test_ddp import COMMON, _params


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ring_worker(rank: int, world: int, port: int, sizes: list[int], out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results = []
        for n in sizes:
            g = torch.Generator().manual_seed(1000 * rank + n)
            x = torch.randn(n, generator=g, dtype=torch.float64)
            ours, theirs = ring_all_reduce(x.clone()), x.clone()
            dist.all_reduce(theirs)
            results.append((ours, theirs))
        torch.save(results, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_ring_all_reduce_sums_like_dist_all_reduce(world: int, tmp_path: Path) -> None:
    sizes = [1, 2, 7, 1000, 1001]  # fewer elements than ranks, uneven chunks, larger
    mp.spawn(_ring_worker, args=(world, _free_port(), sizes, str(tmp_path)), nprocs=world)
    for rank in range(world):
        for n, (ours, theirs) in zip(sizes, torch.load(tmp_path / f"rank{rank}.pt"), strict=True):
            expected = sum(
                torch.randn(n, generator=torch.Generator().manual_seed(1000 * r + n),
                            dtype=torch.float64)
                for r in range(world)
            )  # fmt: skip
            torch.testing.assert_close(theirs, expected, rtol=0, atol=1e-12)
            torch.testing.assert_close(ours, expected, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_ring_and_parameter_server_train_like_one_process(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    """k steps with per-process batch b equal one process with batch n*b (as DDP does:
    tests/train/test_ddp.py), for the ring with 3 processes and the parameter server with 2."""
    one = tmp_path / "one"
    run_cli("run", str(tiny_recipe), *COMMON, "--set", "data.batch_size=102",
            "--out", str(one), "--quiet", check=True)  # fmt: skip
    reference = _params(one)
    for mode, nproc in (("ring", 3), ("ps", 2)):
        many = tmp_path / mode
        run_cli("run", str(tiny_recipe), *COMMON, "--set", f"data.batch_size={102 // nproc}",
                "--set", f"train.dist={mode}", "--nproc", str(nproc), "--out", str(many),
                "--quiet", check=True)  # fmt: skip
        params = _params(many)
        assert params.keys() == reference.keys()
        for key in reference:
            torch.testing.assert_close(params[key], reference[key], rtol=0, atol=1e-5)


def test_ring_and_ps_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    proc = run_cli("run", "lenet-fmnist", "--set", "train.dist=mesh", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "train.dist = 'mesh': expected one of ddp, ring, ps" in (
        proc.stderr
    )
    assert not (tmp_path / "x").exists()
