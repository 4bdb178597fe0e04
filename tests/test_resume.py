"""Exact resume: a run SIGKILLed after epoch k and resumed ends bit-identical to an
uninterrupted run with the same seed (CPU)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from scratchdl.store import RunStore
from tests.conftest import run_cli

TIMING = {"epoch_seconds", "examples_per_s"}


def _rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _summary(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


AUGMENT = [
    "--set",
    "augment.hflip=0.5",
    "--set",
    "augment.crop_scale=0.7",
    "--set",
    "augment.brightness=0.3",
    "--set",
    "augment.cutout=3",
]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after, extra", [(1, []), (3, []), (2, AUGMENT)])
def test_sigkill_then_resume_matches_uninterrupted(
    tiny_recipe: Path, tmp_path: Path, kill_after: int, extra: list[str]
) -> None:
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full = _summary(
        run_cli("run", str(tiny_recipe), "--out", str(full_dir), "--json", *extra, check=True)
    )

    killed = run_cli(
        "run",
        *extra,
        str(tiny_recipe),
        "--out",
        str(cut_dir),
        "--json",
        env={"SCRATCHDL_KILL_AFTER_EPOCH": str(kill_after)},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_rows(cut_dir)) == kill_after
    # The killed run is not left 'running' forever in the store.
    run_id = json.loads((cut_dir / "meta.json").read_text())["run_id"]
    assert RunStore().get_run(run_id)["status"] == "interrupted"

    resumed = _summary(run_cli("run", "--resume", str(cut_dir), "--json", check=True))
    assert resumed["run_id"] == run_id
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert resumed["final"]["test_loss"] == full["final"]["test_loss"]
    assert _rows(cut_dir) == _rows(full_dir)
    a = torch.load(full_dir / "checkpoint.pt", weights_only=True)["modules"]["model"]
    b = torch.load(cut_dir / "checkpoint.pt", weights_only=True)["modules"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert RunStore().get_run(run_id)["status"] == "completed"
    assert len(RunStore().epochs(run_id)) == 4


@pytest.mark.slow
def test_resume_can_extend_epochs(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_cli("run", str(tiny_recipe), "--out", str(run_dir), "--epochs", "2", "--json", check=True)
    more = _summary(run_cli("run", "--resume", str(run_dir), "--epochs", "3", "--json", check=True))
    assert more["epochs"] == 3 and len(_rows(run_dir)) == 3


def test_resume_cannot_shrink_epochs(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_cli("run", str(tiny_recipe), "--out", str(run_dir), "--epochs", "2", "--quiet", check=True)
    proc = run_cli("run", "--resume", str(run_dir), "--epochs", "1")
    assert proc.returncode == 2 and "already trained 2 epochs" in proc.stderr


@pytest.mark.slow
def test_sigterm_marks_run_interrupted_and_it_resumes(tiny_recipe: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "r"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scratchdl",
            "run",
            str(tiny_recipe),
            "--out",
            str(run_dir),
            "--epochs",
            "500",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"--resume {run_dir}" in stderr and "Traceback" not in stderr
    run_id = json.loads((run_dir / "meta.json").read_text())["run_id"]
    assert RunStore().get_run(run_id)["status"] == "interrupted"
    done = len(_rows(run_dir))
    assert 1 <= done < 500
