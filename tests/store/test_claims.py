"""Claims, parallel jobs and resumed studies: no (config, seed) is trained twice."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scratchdl.cli.main import main
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore, config_key
from scratchdl.workbench.compare import compare
from tests.conftest import run_cli


def test_claim_is_exclusive_and_a_dead_holders_claim_is_taken_over(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    assert store.try_claim("k") is None and store.try_claim("k") is None  # re-entrant
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with store._write() as conn:  # hand the claim to a live process
            conn.execute("UPDATE claims SET pid = ?, pid_start = NULL", (other.pid,))
        holder = store.try_claim("k")
        assert holder is not None and holder["pid"] == other.pid
    finally:
        other.kill()
        other.wait()
    assert store.try_claim("k") is None  # its pid is dead now: taken over
    store.release_claim("k")
    assert store._connection().execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_config_key_ignores_nan_identity_but_not_the_seed(tiny_recipe: Path) -> None:
    a = load_recipe(str(tiny_recipe))
    b = load_recipe(str(tiny_recipe))
    a["target"]["value"], b["target"]["value"] = float("nan"), float("nan")
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key(load_recipe(str(tiny_recipe), ["train.seed=4"]))


@pytest.mark.slow
def test_jobs_2_gives_the_numbers_of_jobs_1(
    tiny_recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = lambda s: None  # noqa: E731
    one = compare([str(tiny_recipe)], seeds=2, epochs=1, out=tmp_path / "a", log=quiet)
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "other-store"))
    two = compare([str(tiny_recipe)], seeds=2, epochs=1, out=tmp_path / "b", jobs=2, log=quiet)
    assert two["trained"] == 2
    assert two["rows"][0]["values"] == one["rows"][0]["values"]
    pids = {run["pid"] for run in RunStore().runs()}
    assert len(pids) == 2  # trained in two worker processes


@pytest.mark.slow
def test_two_concurrent_compares_train_each_seed_once(tiny_recipe: Path, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "scratchdl", "compare", str(tiny_recipe), "--seeds", "2"]
    procs = [
        subprocess.Popen(
            [*args, "--epochs", "1", "--out", str(tmp_path / f"c{i}")],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(err for _, err in outs)
    runs = RunStore().runs()
    assert sorted(r["seed"] for r in runs) == [0, 1] and {r["status"] for r in runs} == {
        "completed"
    }


@pytest.mark.slow
def test_interrupted_compare_resumes_its_run_from_the_checkpoint(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    killed = run_cli(
        "compare",
        str(tiny_recipe),
        "--seeds",
        "1",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"},
    )
    assert killed.returncode == -signal.SIGKILL
    (partial,) = RunStore().runs()
    assert partial["status"] == "interrupted"
    logs: list[str] = []
    result = compare([str(tiny_recipe)], seeds=1, epochs=2, out=tmp_path, log=logs.append)
    assert result["trained"] == 1 and f"trained {partial['id']}" in logs[0]
    (run,) = RunStore().runs()
    assert run["id"] == partial["id"] and run["status"] == "completed"
    lines = (Path(run["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # epoch 1 from before the kill, epoch 2 after the resume


def test_ctrl_c_in_a_study_says_rerun_the_same_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import scratchdl.workbench.compare as cmp

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("/some/run/dir")

    monkeypatch.setattr(cmp, "compare", interrupted)
    assert main(["compare", "mlp-fmnist", "--seeds", "1"]) == 130
    err = capsys.readouterr().err
    assert "rerun the same compare to continue" in err and "--resume" not in err
