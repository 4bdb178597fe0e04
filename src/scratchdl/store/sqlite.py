"""The results store: every training run and its per-epoch metrics in one SQLite file.

Design:
- WAL mode, so readers (report, compare) never block the writer and vice versa.
- One connection per process and thread, reopened after a fork (SQLite connections must not
  cross a fork). Opening one per operation would be simpler but costs ~10 ms a write: closing
  the last connection checkpoints and deletes the WAL every time. Autocommit between
  operations, so no lock is held while training runs.
- Writes run in `BEGIN IMMEDIATE` transactions: a second writer waits on the busy timeout at
  the start instead of failing half-way, so two processes writing at once lose nothing.
- A run killed with SIGKILL cannot mark itself; `reap_stale` notices its pid is gone.
"""

import json
import math
import os
import re
import secrets
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratchdl.errors import UserError
from scratchdl.store.process import git_revision, pid_alive, pid_start_time

SCHEMA_VERSION = 1  # PRAGMA user_version; bump and add a migration when the tables change
BUSY_TIMEOUT_S = 30.0
STATUSES = ("running", "completed", "failed", "interrupted")
FINAL_STATUSES = ("completed", "failed", "interrupted")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        recipe TEXT NOT NULL,
        config_json TEXT NOT NULL,
        status TEXT NOT NULL,
        seed INTEGER,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        host TEXT,
        pid INTEGER,
        pid_start INTEGER,
        git_rev TEXT,
        run_dir TEXT,
        headline_metric TEXT,
        headline_value REAL,
        summary_json TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS epochs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        metrics_json TEXT NOT NULL,
        PRIMARY KEY (run_id, epoch)
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_recipe ON runs(recipe)",
)

_RUN_COLUMNS = (
    "id, recipe, status, seed, started_at, ended_at, host, pid, git_rev, run_dir, "
    "headline_metric, headline_value, config_json, summary_json"
)
_INHERITED_ACROSS_FORK: list[sqlite3.Connection] = []
_NEWEST_FIRST = "ORDER BY started_at DESC, rowid DESC"  # rowid breaks same-second ties

# SQLite primary result codes that mean "this file is not a healthy database".
_SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 14, 26

# Metric names for which smaller is better: substrings, and whole words for short abbreviations.
_LOWER_SUBSTRINGS = ("loss", "perplexity", "error")
_LOWER_WORDS = {"ppl", "err", "mae", "mse", "rmse", "nll", "fid", "wer", "cer"}


def runs_root() -> Path:
    """The folder that holds run directories and runs.sqlite: $SCRATCHDL_RUNS or ./runs."""
    root = Path(os.environ.get("SCRATCHDL_RUNS") or "runs").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create the runs folder {root} ({e.strerror}); "
            "set SCRATCHDL_RUNS to a writable folder"
        ) from e
    return root


def lower_is_better(metric: str) -> bool:
    """True for names like 'val_loss', 'perplexity', 'test_error', 'bbox_mae'; else higher wins."""
    name = metric.lower()
    if any(part in name for part in _LOWER_SUBSTRINGS):
        return True
    return any(word in _LOWER_WORDS for word in re.split(r"[^a-z0-9]+", name))


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_run_id(recipe: str) -> str:
    return f"{recipe}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _as_number(name: str, value: Any) -> int | float:
    if isinstance(value, int | float):
        return value
    try:
        return float(value)  # numpy scalars, 0-d tensors
    except (TypeError, ValueError) as e:
        raise UserError(
            f"metric {name!r} must be a number, got {type(value).__name__} {value!r}; "
            "log floats (use .item() on tensors)"
        ) from e


def _run_dict(row: sqlite3.Row) -> dict:
    run = {key: row[key] for key in row.keys() if not key.endswith("_json")}
    run["config"] = json.loads(row["config_json"])
    run["summary"] = json.loads(row["summary_json"]) if row["summary_json"] else {}
    return run


class RunStore:
    """Runs and their per-epoch metrics in `path` (default runs_root()/'runs.sqlite')."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else runs_root() / "runs.sqlite"
        if self.path.is_dir():
            raise UserError(f"results store {self.path} is a folder; give the path of a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._create_schema()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def __getstate__(self) -> dict:  # picklable for multiprocessing 'spawn': the path is enough
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self._local = threading.local()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this thread's connection (it reopens on next use)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is None:
            return
        if self._local.pid == os.getpid():
            conn.close()
        else:
            _INHERITED_ACROSS_FORK.append(conn)  # see _connection

    # ---- connections -------------------------------------------------------------------------

    def _unhealthy(self, error: sqlite3.DatabaseError) -> UserError | None:
        """A one-line UserError if `error` means the file itself is bad, else None."""
        code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        text = str(error)
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "not a database" in text:
            return UserError(
                f"results store {self.path} is unreadable or corrupt ({text}); "
                f"move it away (e.g. mv {self.path} {self.path}.bad) and a fresh one will be made"
            )
        if code == _SQLITE_CANTOPEN:
            return UserError(
                f"cannot open results store {self.path} ({text}); "
                "check that its folder exists and is writable, or set SCRATCHDL_RUNS"
            )
        return None

    def _connection(self) -> sqlite3.Connection:
        """This process's and thread's connection, opened on first use and again after a fork."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if conn is not None:
            # Inherited from the parent across fork: never use or close it here (closing could
            # checkpoint the parent's WAL); keep it referenced so it is never garbage-collected.
            _INHERITED_ACROSS_FORK.append(conn)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: durable across app crashes
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The connection (autocommit); SQLite errors about a bad file become UserError."""
        try:
            yield self._connection()
        except sqlite3.DatabaseError as e:
            friendly = self._unhealthy(e)
            if friendly is None:
                raise
            self.close()  # a later call, after the file is fixed, starts afresh
            raise friendly from e

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction that takes the write lock up front (no mid-way SQLITE_BUSY)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _create_schema(self) -> None:
        with self._connect() as conn:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise UserError(
                        f"results store {self.path} cannot use WAL mode (got {mode!r}); "
                        "put SCRATCHDL_RUNS on a local disk"
                    )
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
        with self._write() as conn:  # re-check under the lock: another process may have won
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserError(
                    f"results store {self.path} has schema version {version}, this scratchdl "
                    f"reads up to {SCHEMA_VERSION}; upgrade scratchdl or use another SCRATCHDL_RUNS"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ---- writing -----------------------------------------------------------------------------

    def start_run(
        self,
        *,
        recipe: str,
        config: dict,
        seed: int,
        run_dir: str,
        headline_metric: str,
        run_id: str | None = None,
    ) -> str:
        """Record a new run as 'running' in this process; returns its id."""
        if not isinstance(config, dict):
            raise UserError(f"config must be a dict, got {type(config).__name__}")
        run_id = run_id or _new_run_id(recipe)
        package_dir = Path(__file__).resolve().parent
        git_rev = git_revision([Path.cwd(), package_dir])  # outside the lock: it runs a process
        pid = os.getpid()
        row = (
            run_id,
            recipe,
            json.dumps(config, sort_keys=True, default=str),
            "running",
            int(seed),
            _utc_now(),
            socket.gethostname(),
            pid,
            pid_start_time(pid),
            git_rev,
            str(run_dir),
            headline_metric,
        )
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO runs (id, recipe, config_json, status, seed, started_at, host, "
                    "pid, pid_start, git_rev, run_dir, headline_metric) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as e:
                raise UserError(
                    f"run id {run_id!r} already exists in {self.path}; "
                    "pass another run_id, or resume_run() to continue it"
                ) from e
        return run_id

    def resume_run(self, run_id: str) -> None:
        """Mark an existing run 'running' again, owned by this process on this host."""
        pid = os.getpid()
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, host = ?, pid = ?, "
                "pid_start = ? WHERE id = ?",
                (socket.gethostname(), pid, pid_start_time(pid), run_id),
            ).rowcount
        if changed == 0:
            raise self._unknown(run_id)

    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        """Store (or replace, after a resume) the metrics of one epoch."""
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise UserError(f"epoch must be an int, got {type(epoch).__name__} {epoch!r}")
        values = {str(name): _as_number(name, value) for name, value in metrics.items()}
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO epochs (run_id, epoch, metrics_json) VALUES (?, ?, ?) "
                    "ON CONFLICT (run_id, epoch) "
                    "DO UPDATE SET metrics_json = excluded.metrics_json",
                    (run_id, epoch, json.dumps(values)),
                )
            except sqlite3.IntegrityError as e:  # foreign key: no such run
                raise self._unknown(run_id) from e

    def finish_run(
        self,
        run_id: str,
        status: str,
        headline_value: float | None = None,
        summary: dict | None = None,
    ) -> None:
        """Close a run as 'completed', 'failed' or 'interrupted', with its final number."""
        if status not in FINAL_STATUSES:
            raise UserError(f"finish status must be one of {FINAL_STATUSES}, got {status!r}")
        value = None if headline_value is None else float(headline_value)
        if value is not None and math.isnan(value):
            value = None  # SQLite would store NaN as NULL anyway; say so explicitly
        summary_json = json.dumps(summary, sort_keys=True, default=str) if summary else None
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, headline_value = ?, "
                "summary_json = COALESCE(?, summary_json) WHERE id = ?",
                (status, _utc_now(), value, summary_json, run_id),
            ).rowcount
        if changed == 0:
            raise self._unknown(run_id)

    def reap_stale(self) -> int:
        """Mark 'interrupted' every run of this host still 'running' whose process is gone.

        Returns how many runs were reaped. Runs of other hosts are left alone: their pids mean
        nothing here.
        """
        host = socket.gethostname()
        with self._connect() as conn:
            running = conn.execute(
                "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ?",
                (host,),
            ).fetchall()
        dead = [row for row in running if not pid_alive(row["pid"], row["pid_start"])]
        if not dead:
            return 0
        reaped = 0
        with self._write() as conn:
            for row in dead:
                # Guard on pid: a resume elsewhere may have taken the run over since we looked.
                reaped += conn.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE id = ? "
                    "AND status = 'running' AND host = ? AND pid IS ? AND pid_start IS ?",
                    (_utc_now(), row["id"], host, row["pid"], row["pid_start"]),
                ).rowcount
        return reaped

    # ---- reading -----------------------------------------------------------------------------

    def get_run(self, run_id: str) -> dict | None:
        """One run as a dict (see `runs`), or None if there is no such id."""
        self.reap_stale()
        with self._connect() as conn:
            query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?"
            row = conn.execute(query, (run_id,)).fetchone()
        return None if row is None else _run_dict(row)

    def runs(self, recipe: str | None = None, status: str | None = None) -> list[dict]:
        """Runs newest first, optionally of one recipe and/or status.

        Each dict has id, recipe, status, seed, started_at, ended_at, host, pid, git_rev,
        run_dir, headline_metric, headline_value, config (dict) and summary (dict).
        """
        if status is not None and status not in STATUSES:
            raise UserError(f"status must be one of {STATUSES}, got {status!r}")
        self.reap_stale()
        where, params = [], []
        if recipe is not None:
            where.append("recipe = ?")
            params.append(recipe)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {clause}{_NEWEST_FIRST}", params
            ).fetchall()
        return [_run_dict(row) for row in rows]

    def epochs(self, run_id: str) -> list[dict]:
        """[{'epoch': 1, **metrics}, ...] in epoch order; [] if none (or no such run)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT epoch, metrics_json FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [{"epoch": row["epoch"], **json.loads(row["metrics_json"])} for row in rows]

    def best(self, recipe: str) -> dict | None:
        """The completed run of `recipe` with the best headline value, or None.

        Best is lowest for loss/perplexity/error-like metric names, else highest. Only runs that
        share the newest run's headline metric compete (the recipe may have changed it).
        """
        completed = [
            run
            for run in self.runs(recipe=recipe, status="completed")
            if run["headline_value"] is not None
        ]
        if not completed:
            return None
        metric = completed[0]["headline_metric"]
        rivals = [run for run in completed if run["headline_metric"] == metric]
        pick = min if lower_is_better(metric or "") else max
        return pick(rivals, key=lambda run: run["headline_value"])

    def _unknown(self, run_id: str) -> UserError:
        return UserError(
            f"no run with id {run_id!r} in {self.path}; list runs with `scratchdl report` "
            "or RunStore().runs()"
        )
