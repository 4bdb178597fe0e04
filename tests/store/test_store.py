"""The SQLite results store: round trip, concurrency, WAL, crash reaping, bad files."""

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.store import RunStore, lower_is_better, runs_root
from scratchdl.store.process import git_revision, pid_alive, pid_start_time
from scratchdl.store.sqlite import SCHEMA_VERSION

ON_LINUX = Path("/proc/self/stat").exists()


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _start(store: RunStore, recipe: str = "lenet", metric: str = "test_acc", **kw) -> str:
    return store.start_run(
        recipe=recipe, config={"lr": 0.1}, seed=0, run_dir="runs/x", headline_metric=metric, **kw
    )


def _raw_status(path: Path, run_id: str) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---- round trip ------------------------------------------------------------------------------


def test_round_trip(store: RunStore) -> None:
    config = {"lr": 0.1, "model": {"depth": 18, "widths": [64, 128]}}
    run_id = store.start_run(
        recipe="resnet18", config=config, seed=3, run_dir="runs/r1", headline_metric="test_acc"
    )
    assert run_id.startswith("resnet18-") and len(run_id.split("-")[-1]) == 6
    store.log_epoch(run_id, 1, {"loss": 2.0, "test_acc": 0.5})
    store.log_epoch(run_id, 2, {"loss": 1.5, "test_acc": 0.6})
    store.log_epoch(run_id, 2, {"loss": 1.0, "test_acc": 0.7})  # rewrite replaces
    store.log_epoch(run_id, 3, {"loss": 0.8, "test_acc": 0.8, "step": 300})
    store.finish_run(run_id, "completed", 0.8, summary={"examples_per_s": 1234.5})

    run = store.get_run(run_id)
    assert run is not None
    assert run["id"] == run_id and run["recipe"] == "resnet18" and run["status"] == "completed"
    assert run["seed"] == 3 and run["run_dir"] == "runs/r1"
    assert run["config"] == config
    assert run["summary"] == {"examples_per_s": 1234.5}
    assert run["headline_metric"] == "test_acc" and run["headline_value"] == 0.8
    assert run["pid"] == os.getpid() and run["host"]
    assert run["started_at"].endswith("+00:00") and run["ended_at"] >= run["started_at"]
    assert store.epochs(run_id) == [
        {"epoch": 1, "loss": 2.0, "test_acc": 0.5},
        {"epoch": 2, "loss": 1.0, "test_acc": 0.7},
        {"epoch": 3, "loss": 0.8, "test_acc": 0.8, "step": 300},
    ]
    assert store.runs() == [run]


def test_runs_newest_first_and_filters(store: RunStore) -> None:
    first = _start(store, "lenet")
    second = _start(store, "vgg")
    third = _start(store, "lenet")
    store.finish_run(first, "failed")
    assert [r["id"] for r in store.runs()] == [third, second, first]
    assert [r["id"] for r in store.runs(recipe="lenet")] == [third, first]
    assert [r["id"] for r in store.runs(status="failed")] == [first]
    assert [r["id"] for r in store.runs(recipe="lenet", status="running")] == [third]
    assert store.runs(recipe="nope") == []
    with pytest.raises(UserError, match="status must be one of"):
        store.runs(status="done")


def test_best_higher_is_better(store: RunStore) -> None:
    values = {"a": 0.70, "b": 0.91, "c": 0.85}
    for name, value in values.items():
        store.finish_run(_start(store, run_id=name), "completed", value)
    store.finish_run(_start(store, run_id="failed-high"), "failed", 0.99)  # not completed
    _start(store, run_id="still-running")
    store.finish_run(_start(store, recipe="other", run_id="other-recipe"), "completed", 0.999)
    best = store.best("lenet")
    assert best is not None and best["id"] == "b" and best["headline_value"] == 0.91


@pytest.mark.parametrize("metric", ["val_loss", "perplexity", "test_error", "bbox_mae"])
def test_best_lower_is_better(store: RunStore, metric: str) -> None:
    for name, value in {"a": 3.0, "b": 1.5, "c": 2.0}.items():
        store.finish_run(_start(store, "rnn", metric, run_id=name), "completed", value)
    best = store.best("rnn")
    assert best is not None and best["id"] == "b"


def test_best_none_without_completed_runs(store: RunStore) -> None:
    assert store.best("lenet") is None
    store.finish_run(_start(store), "completed")  # no headline value
    store.finish_run(_start(store), "interrupted", 0.9)
    assert store.best("lenet") is None


def test_lower_is_better_names() -> None:
    lower = ["loss", "val_loss", "trainLoss", "perplexity", "test_error", "class_err", "bbox_mae"]
    lower += ["test_fd", "test_fd_ddim50", "test_nll", "test_recon_mse"]  # generative headlines
    higher = ["test_acc", "accuracy", "bleu", "miou", "map", "f1", "examples_per_s"]
    assert all(lower_is_better(name) for name in lower)
    assert not any(lower_is_better(name) for name in higher)


# ---- resume, errors --------------------------------------------------------------------------


def test_resume_flips_status_back(store: RunStore) -> None:
    run_id = _start(store)
    store.log_epoch(run_id, 1, {"loss": 2.0})
    store.log_epoch(run_id, 2, {"loss": 1.9})
    store.finish_run(run_id, "interrupted")
    assert store.get_run(run_id)["ended_at"] is not None

    store.resume_run(run_id)
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["ended_at"] is None and run["pid"] == os.getpid()
    store.log_epoch(run_id, 2, {"loss": 1.0})  # the resumed run redoes epoch 2
    assert store.epochs(run_id) == [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]


def test_unknown_ids_and_bad_input(store: RunStore) -> None:
    assert store.get_run("ghost") is None
    assert store.epochs("ghost") == []
    with pytest.raises(UserError, match="no run with id 'ghost'"):
        store.resume_run("ghost")
    with pytest.raises(UserError, match="no run with id 'ghost'"):
        store.finish_run("ghost", "completed", 1.0)
    with pytest.raises(UserError, match="no run with id 'ghost'"):
        store.log_epoch("ghost", 1, {"loss": 1.0})

    run_id = _start(store, run_id="taken")
    with pytest.raises(UserError, match="already exists"):
        _start(store, run_id="taken")
    with pytest.raises(UserError, match="finish status"):
        store.finish_run(run_id, "done")
    with pytest.raises(UserError, match="must be a number"):
        store.log_epoch(run_id, 1, {"loss": "low"})
    with pytest.raises(UserError, match="epoch must be an int"):
        store.log_epoch(run_id, 1.5, {"loss": 1.0})
    assert store.epochs(run_id) == []  # nothing half-written


# ---- the file itself -------------------------------------------------------------------------


def test_schema_and_wal_mode(store: RunStore) -> None:
    _start(store)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "epochs", "runs_by_recipe"} <= names
    RunStore(store.path)  # reopening an existing store is fine
    assert len(store.runs()) == 1


def test_corrupt_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not an sqlite file\n" * 100)
    with pytest.raises(UserError, match="move it away") as info:
        RunStore(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("where", ["header", "runs_table"])
def test_store_corrupted_after_creation(store: RunStore, where: str) -> None:
    _start(store)
    with closing(sqlite3.connect(store.path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        query = "SELECT rootpage FROM sqlite_master WHERE name = 'runs'"
        root_page = conn.execute(query).fetchone()[0]
    store.close()  # the last connection out folds the WAL into the file
    with open(store.path, "r+b") as f:
        f.seek(0 if where == "header" else (root_page - 1) * page_size)
        f.write(b"\xff" * 100)
    with pytest.raises(UserError, match="corrupt") as info:
        RunStore(store.path).runs()
    assert str(store.path) in str(info.value)


def test_newer_schema_is_refused(store: RunStore) -> None:
    with sqlite3.connect(store.path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="schema version"):
        RunStore(store.path)


def test_runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "a" / "b"))
    assert runs_root() == tmp_path / "a" / "b" and runs_root().is_dir()
    assert RunStore().path == tmp_path / "a" / "b" / "runs.sqlite"
    monkeypatch.delenv("SCRATCHDL_RUNS")
    monkeypatch.chdir(tmp_path)
    assert runs_root() == Path("runs") and (tmp_path / "runs").is_dir()


def test_git_revision(store: RunStore, tmp_path: Path) -> None:
    assert git_revision([tmp_path / "does-not-exist"]) is None
    package_dir = Path(__file__).resolve().parents[2] / "src" / "scratchdl" / "store"
    try:
        expected = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=package_dir, capture_output=True, text=True
            ).stdout.strip()
            or None
        )
    except OSError:
        expected = None
    if expected is None:
        pytest.skip("the package is not in a git checkout here")
    assert git_revision([package_dir]) == expected
    assert store.get_run(_start(store))["git_rev"] == expected


# ---- processes -------------------------------------------------------------------------------

WRITER = """
    import sys, time
    from scratchdl.store import RunStore

    path, shared, name = sys.argv[1], sys.argv[2], sys.argv[3]
    store = RunStore(path)
    own = store.start_run(recipe="own", config={"writer": name}, seed=0, run_dir=".",
                          headline_metric="acc", run_id="own-" + name)
    offset = 0 if name == "a" else 1000
    for epoch in range(200):
        if epoch == 100:  # wait for the other writer, so that the two surely interleave
            deadline = time.time() + 60
            while len(store.epochs(shared)) <= 100 and time.time() < deadline:
                time.sleep(0.001)
            assert len(store.epochs(shared)) > 100, "the other writer never started"
        store.log_epoch(own, epoch, {"loss": float(epoch)})
        store.log_epoch(shared, offset + epoch, {"loss": float(epoch), "writer": offset})
    store.finish_run(own, "completed", 1.0)
"""


def test_two_processes_writing_at_once_lose_nothing(store: RunStore) -> None:
    shared = _start(store, recipe="shared", run_id="shared")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(store.path), shared, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err

    for name in ("a", "b"):
        assert store.get_run("own-" + name)["status"] == "completed"
        assert [row["epoch"] for row in store.epochs("own-" + name)] == list(range(200))
    rows = store.epochs(shared)
    assert [r["epoch"] for r in rows] == list(range(200)) + list(range(1000, 1200))
    assert all(r["writer"] == (0 if r["epoch"] < 1000 else 1000) for r in rows)
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 800


def test_store_pickles_for_spawned_workers(store: RunStore) -> None:
    run_id = _start(store)
    copy = pickle.loads(pickle.dumps(store))
    copy.log_epoch(run_id, 1, {"loss": 1.0})
    assert copy.path == store.path and store.epochs(run_id) == [{"epoch": 1, "loss": 1.0}]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_store_keeps_working_across_fork(store: RunStore) -> None:
    run_id = _start(store)
    store.log_epoch(run_id, 1, {"loss": 1.0})  # the parent's connection is now open
    parents_connection = store._connection()
    child = os.fork()
    if child == 0:  # child: must open its own connection, not reuse the parent's
        code = 0
        try:
            store.log_epoch(run_id, 2, {"loss": 0.5})
            code = 0 if store._connection() is not parents_connection else 3
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.log_epoch(run_id, 3, {"loss": 0.25})
    assert [row["epoch"] for row in store.epochs(run_id)] == [1, 2, 3]


KILLED = """
    import os, signal, sys
    from scratchdl.store import RunStore

    store = RunStore(sys.argv[1])
    run_id = store.start_run(recipe="doomed", config={}, seed=0, run_dir=".",
                             headline_metric="acc")
    store.log_epoch(run_id, 1, {"acc": 0.5})
    print(run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("reader", ["reap_stale", "runs", "get_run", "best"])
def test_sigkilled_run_ends_interrupted(store: RunStore, reader: str) -> None:
    mine = _start(store, recipe="doomed")  # alive: must survive reaping
    killed = _run_python(KILLED, str(store.path))
    assert killed.returncode == -signal.SIGKILL
    run_id = killed.stdout.strip()
    assert _raw_status(store.path, run_id) == "running"  # nobody could mark it

    if reader == "reap_stale":
        assert store.reap_stale() == 1
        assert store.reap_stale() == 0
    else:
        getattr(store, reader)(run_id if reader == "get_run" else "doomed")
    assert _raw_status(store.path, run_id) == "interrupted"
    run = store.get_run(run_id)
    assert run["status"] == "interrupted" and run["ended_at"] is not None
    assert store.epochs(run_id) == [{"epoch": 1, "acc": 0.5}]
    assert store.get_run(mine)["status"] == "running"


def test_runs_of_other_hosts_are_not_reaped(store: RunStore) -> None:
    run_id = _start(store)
    with sqlite3.connect(store.path) as conn:  # a dead pid, but on another machine
        conn.execute("UPDATE runs SET host = 'elsewhere', pid = 999999999 WHERE id = ?", (run_id,))
    assert store.reap_stale() == 0
    assert store.get_run(run_id)["status"] == "running"


@pytest.mark.skipif(not ON_LINUX, reason="needs /proc")
def test_reused_pid_counts_as_dead(store: RunStore) -> None:
    run_id = _start(store)
    assert store.reap_stale() == 0
    with sqlite3.connect(store.path) as conn:  # our pid, but "started" at another time
        conn.execute("UPDATE runs SET pid_start = pid_start + 1 WHERE id = ?", (run_id,))
    assert store.reap_stale() == 1
    assert store.get_run(run_id)["status"] == "interrupted"


def test_pid_alive() -> None:
    me = os.getpid()
    assert pid_alive(me) and pid_alive(me, pid_start_time(me))
    assert not pid_alive(None) and not pid_alive(0) and not pid_alive(-1)
    assert not pid_alive(2**22 + 12345)  # above Linux's pid_max
    if ON_LINUX:
        assert not pid_alive(me, pid_start_time(me) + 1)


@pytest.mark.skipif(not ON_LINUX, reason="needs /proc")
def test_zombie_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while pid_alive(child.pid) and time.time() < deadline:  # exited but not yet waited for
        time.sleep(0.01)
    assert not pid_alive(child.pid)
    assert Path(f"/proc/{child.pid}").exists()  # it really is a zombie, not gone
    child.wait()
