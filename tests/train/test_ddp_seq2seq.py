"""seq2seq under DDP (2 gloo processes on CPU): per-process batch b trains exactly what one
process with batch 2b trains, including a short last batch that leaves one rank nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.train.checkpoint import load_checkpoint
from tests.tasks.test_seq2seq import TINY
from tests.text.test_translation_data import cache_tatoeba_fixture

# float32 GRU; the two runs differ only in the order of the sums of the masked loss and of
# the gradient all-reduce (measured: at most 3e-8 after 3 Adam steps on weights of order 0.1).
# Without the (tokens * world / global tokens) rescaling this test fails (checked).
ATOL = 1e-6
# 17 training pairs, global batch 8: steps of 8, 8 and 1 pair (rank 1 gets none in step 3)
SETS = [
    *TINY,
    "data.train_limit=17",
    "model.dropout=0.0",  # each rank draws its own dropout masks: off for equality
    "train.epochs=1",
    "train.device=cpu",
    "decode.beam_size=1",
]


@pytest.mark.slow
def test_two_processes_of_batch_b_equal_one_process_of_batch_2b(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    cache_tatoeba_fixture(data_dir)
    monkeypatch.setenv("SCRATCHDL_DATA", str(data_dir))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    one = run_recipe(
        load_recipe("seq2seq-bible-en-es", [*SETS, "data.batch_size=8"]),
        out=tmp_path / "one",
        quiet=True,
    )
    assert one["final"]["train_pairs"] == 17
    sets = [a for s in [*SETS, "data.batch_size=4"] for a in ("--set", s)]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "SCRATCHDL_DDP_TIMEOUT": "120"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["-m", "scratchdl", "run", "seq2seq-bible-en-es", *sets]
    cmd += ["--out", str(tmp_path / "two"), "--quiet", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    assert two["world_size"] == 2
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert a["step"] == b["step"] == 3
    for key, pa in a["modules"]["model"].items():
        torch.testing.assert_close(b["modules"]["model"][key], pa, rtol=0, atol=ATOL, msg=key)
    # the token-weighted train_loss is all-reduced: the same epoch mean
    assert two["final"]["train_loss"] == pytest.approx(one["final"]["train_loss"], abs=1e-6)
    assert two["final"]["val_loss"] == pytest.approx(one["final"]["val_loss"], abs=1e-4)
