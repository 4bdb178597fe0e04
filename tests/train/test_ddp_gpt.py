"""gpt-lm data parallel (gloo, CPU): 2 processes with batch b train exactly as 1 process with
batch 2b (each rank takes its rows of the global batch of random windows)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scratchdl.train.checkpoint import load_checkpoint
from tests.conftest import run_cli

WORDS = "the of and to her a i in was it she that not be you he his had as for with but".split()
K = 6  # optimizer steps compared


def _sets(corpus: Path, batch: int) -> list[str]:
    sets = [
        f"data.dataset={corpus}", "data.train_chars=0", f"data.batch_size={batch}",
        "data.num_steps=12", "data.eval_batch_size=4", "data.val_epoch_tokens=200",
        "model.n_layer=1", "model.n_head=2", "model.n_embd=16", "model.block_size=12",
        "model.dropout=0.0", "train.epochs=1", f"train.steps_per_epoch={K}",
        "train.device=cpu", "generate.num_tokens=4", "generate.beam_size=1",
    ]
    return [a for s in sets for a in ("--set", s)]


@pytest.mark.slow
def test_two_processes_batch_b_equal_one_process_batch_2b(tmp_path: Path) -> None:
    rng = random.Random(1)
    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(rng.choice(WORDS) for _ in range(3000)) + "\n")
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli("run", "gpt-austen", *_sets(corpus, 8), "--out", str(one), check=True)
    init = run_cli("run", "gpt-austen", *_sets(corpus, 8), "--set", "optimizer.lr=1e-12",
                   "--out", str(tmp_path / "init"), check=True)
    assert init.returncode == 0
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "scratchdl", "run", "gpt-austen", *_sets(corpus, 4), "--out", str(two)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def state(run_dir: Path) -> dict[str, torch.Tensor]:
        return load_checkpoint(run_dir / "checkpoint.pt", map_location="cpu")["modules"]["model"]

    a, b, start = state(one), state(two), state(tmp_path / "init")
    assert a.keys() == b.keys()
    moved = 0.0
    for name in a:
        # Adam divides by sqrt(v): a parameter whose gradient is near zero turns the last-bit
        # difference of a different all-reduce summation order into ~1e-6 after six steps.
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=2e-5)
        moved = max(moved, float((a[name] - start[name]).abs().max()))
    assert moved > 1e-3  # the parameters did train, so the equality says something
