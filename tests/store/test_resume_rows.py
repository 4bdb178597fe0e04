"""The stored config is the config of the stored result; a completed result is never lost to a
later failure; a failed run stores its reason; old (version 1) stores still open."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore
from scratchdl.train.rundir import load_run_config
from scratchdl.workbench.compare import find_completed


def _train(recipe: Path, run_dir: Path, epochs: int = 1) -> dict:
    cfg = load_recipe(str(recipe), [f"train.epochs={epochs}"])
    return run_recipe(cfg, out=run_dir, quiet=True)


def _extend(run_dir: Path, epochs: int) -> dict:
    cfg, _ = load_run_config(run_dir)
    cfg["train"]["epochs"] = epochs
    return run_recipe(cfg, resume=run_dir, quiet=True)


def test_extended_run_is_a_new_row_with_its_own_config(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    one = _train(tiny_recipe, run_dir)
    three = _extend(run_dir, 3)
    store = RunStore()
    parent, child = store.get_run(one["run_id"]), store.get_run(three["run_id"])
    assert child["id"] != parent["id"] and child["parent_id"] == parent["id"]
    # each row holds the config its own value came from
    assert parent["config"]["train"]["epochs"] == 1
    assert parent["headline_value"] == one["value"] and parent["status"] == "completed"
    assert child["config"]["train"]["epochs"] == 3
    assert child["headline_value"] == three["value"] and child["status"] == "completed"
    assert [e["epoch"] for e in store.epochs(child["id"])] == [1, 2, 3]
    assert [e["epoch"] for e in store.epochs(parent["id"])] == [1]
    assert store.children(parent["id"]) == [child["id"]]
    assert json.loads((run_dir / "meta.json").read_text())["run_id"] == child["id"]
    # reuse matches on the real config: a 1-epoch request finds the 1-epoch result
    cfg1 = load_recipe(str(tiny_recipe), ["train.epochs=1"])
    cfg3 = load_recipe(str(tiny_recipe), ["train.epochs=3"])
    assert find_completed(store, cfg1)["id"] == parent["id"]
    assert find_completed(store, cfg3)["id"] == child["id"]


def test_failed_extension_keeps_the_completed_result(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    one = _train(tiny_recipe, run_dir)
    (run_dir / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):  # noqa: B017  (whatever the loader raises)
        _extend(run_dir, 2)
    store = RunStore()
    parent = store.get_run(one["run_id"])
    assert parent["status"] == "completed" and parent["headline_value"] == one["value"]
    (child_id,) = store.children(one["run_id"])
    child = store.get_run(child_id)
    assert child["status"] == "failed"
    assert child["failure"] and "\n" not in child["failure"]


def test_resuming_a_copied_run_dir_leaves_the_original_row(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    original = tmp_path / "r"
    one = _train(tiny_recipe, original)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    two = _extend(copy, 2)
    store = RunStore()
    row = store.get_run(one["run_id"])
    assert row["run_dir"] == str(original.resolve()) and row["config"]["train"]["epochs"] == 1
    assert row["headline_value"] == one["value"]
    child = store.get_run(two["run_id"])
    assert child["parent_id"] == one["run_id"] and child["run_dir"] == str(copy.resolve())
    assert json.loads((original / "meta.json").read_text())["run_id"] == one["run_id"]


def test_resume_of_an_interrupted_run_keeps_its_row_and_updates_the_config(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "r"
    one = _train(tiny_recipe, run_dir)
    store = RunStore()
    with store._write() as conn:  # as a SIGKILL after epoch 1 of a 2-epoch run leaves it
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (one["run_id"],))
    two = _extend(run_dir, 2)
    assert two["run_id"] == one["run_id"]
    row = store.get_run(one["run_id"])
    assert row["config"]["train"]["epochs"] == 2 and row["headline_value"] == two["value"]


def test_version_1_store_is_migrated_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, recipe TEXT NOT NULL, config_json TEXT NOT NULL,"
        " status TEXT NOT NULL, seed INTEGER, started_at TEXT NOT NULL, ended_at TEXT, host TEXT,"
        " pid INTEGER, pid_start INTEGER, git_rev TEXT, run_dir TEXT, headline_metric TEXT,"
        " headline_value REAL, summary_json TEXT)"
    )
    conn.execute(
        "CREATE TABLE epochs (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        " epoch INTEGER NOT NULL, metrics_json TEXT NOT NULL, PRIMARY KEY (run_id, epoch))"
    )
    conn.execute(
        "INSERT INTO runs (id, recipe, config_json, status, seed, started_at, headline_metric,"
        " headline_value) VALUES ('old-1', 'mlp', '{}', 'completed', 0, '2024', 'acc', 0.5)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = RunStore(path)
    (run,) = store.runs()
    assert run["id"] == "old-1" and run["headline_value"] == 0.5 and run["parent_id"] is None
    assert store._connection().execute("PRAGMA user_version").fetchone()[0] == 2
    store.finish_run("old-1", "failed", failure="boom")
    assert store.get_run("old-1")["failure"] == "boom"
