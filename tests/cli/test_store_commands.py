"""CLI over the store: report --limit/--status, list's best as shipped, runs show/rm,
read-only stores, a store locked too long."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from scratchdl.cli.main import main
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore


def _add(store: RunStore, cfg: dict, value: float | None, status: str = "completed") -> str:
    run_id = store.start_run(
        recipe=cfg["recipe"],
        config=cfg,
        seed=cfg["train"]["seed"],
        run_dir="/nonexistent",
        headline_metric=cfg["target"]["metric"],
    )
    store.finish_run(
        run_id, status, headline_value=value, failure="boom" if status == "failed" else None
    )
    return run_id


def test_report_limit_says_what_is_hidden(capsys: pytest.CaptureFixture) -> None:
    store = RunStore()
    cfg = load_recipe("mlp-fmnist")
    for i in range(5):
        _add(store, cfg, 0.8 + i / 100, status="failed" if i == 0 else "completed")
    assert main(["report", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 newest of 5 runs shown, 2 hidden by --limit 3; `--limit 0` shows all" in out
    assert main(["report", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("mlp-fmnist-") == 5 and "hidden" not in out
    assert main(["report", "--status", "failed", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("mlp-fmnist-") == 1 and "failed" in out
    assert main(["report", "--limit", "-1"]) == 2


def test_list_best_counts_only_the_recipe_as_shipped(capsys: pytest.CaptureFixture) -> None:
    store = RunStore()
    _add(store, load_recipe("lenet-fmnist", ["train.seed=1"]), 0.85)
    _add(store, load_recipe("lenet-fmnist", ["model.activation=tanh", "train.epochs=1"]), 0.95)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("lenet-fmnist ")]
    assert "0.8500" in line and "0.9500" not in line
    assert "best as shipped" in out


def test_runs_show_and_rm(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    store = RunStore()
    cfg = load_recipe("mlp-fmnist")
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("{}\n")
    run_id = store.start_run(
        recipe="mlp-fmnist", config=cfg, seed=0, run_dir=str(run_dir), headline_metric="acc"
    )
    store.log_epoch(run_id, 1, {"val_accuracy": 0.5, "loss": 1.25})
    store.finish_run(run_id, "failed", failure="RuntimeError: out of memory")
    assert main(["runs", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "status:   failed" in out and "failure:  RuntimeError: out of memory" in out
    assert "metrics.jsonl" in out and "1.25" in out and 'name = "mlp"' in out
    assert main(["runs", "show", "nope"]) == 2
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert main(["runs", "rm", run_id]) == 1
    assert store.get_run(run_id) is not None and run_dir.exists()
    assert main(["runs", "rm", run_id, "--yes"]) == 0
    assert store.get_run(run_id) is None and not run_dir.exists()
    assert store.epochs(run_id) == []


def test_read_only_store_still_lists_and_reports(
    isolated_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _add(RunStore(), load_recipe("mlp-fmnist"), 0.8)
    store_file = isolated_runs / "runs.sqlite"
    real_access = os.access

    def no_write(path, mode, *args, **kwargs):  # as for a non-root user after chmod a-w
        if mode & os.W_OK and Path(path).resolve() in (store_file, isolated_runs.resolve()):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", no_write)
    assert RunStore().read_only
    assert main(["report"]) == 0 and "mlp-fmnist" in capsys.readouterr().out
    assert main(["report", "--format", "csv"]) == 0 and "0.8" in capsys.readouterr().out
    assert main(["list"]) == 0 and "0.8000" in capsys.readouterr().out
    with pytest.raises(Exception, match="read-only"):
        RunStore().finish_run("x", "failed")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_by_permissions(isolated_runs: Path, capsys) -> None:
    _add(RunStore(), load_recipe("mlp-fmnist"), 0.8)
    os.chmod(isolated_runs / "runs.sqlite", 0o444)
    os.chmod(isolated_runs, 0o555)
    try:
        assert main(["report"]) == 0 and "mlp-fmnist" in capsys.readouterr().out
    finally:
        os.chmod(isolated_runs, 0o755)


def test_locked_store_waits_with_a_message_then_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    store = RunStore()
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    monkeypatch.setenv("SCRATCHDL_STORE_TIMEOUT", "1")
    try:
        with pytest.raises(Exception, match="stayed locked by another writer for 1 s") as info:
            _add(store, load_recipe("mlp-fmnist"), 0.8)
        assert "\n" not in str(info.value)
        assert "waiting for the results store" in capsys.readouterr().err
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    monkeypatch.setenv("SCRATCHDL_STORE_TIMEOUT", "soon")
    with pytest.raises(Exception, match="SCRATCHDL_STORE_TIMEOUT must be a number"):
        _add(store, load_recipe("mlp-fmnist"), 0.8)
