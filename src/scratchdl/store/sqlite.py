"""The results store: every training run and its per-epoch metrics in one SQLite file.

Design:
- WAL mode, so readers (report, compare) never block the writer and vice versa.
- One connection per process and thread, reopened after a fork (SQLite connections must not
  cross a fork). Opening one per operation would be simpler but costs ~10 ms a write: closing
  the last connection checkpoints and deletes the WAL every time. Autocommit between
  operations, so no lock is held while training runs.
- Writes run in `BEGIN IMMEDIATE` transactions: a second writer waits for the lock at the
  start (up to $SCRATCHDL_STORE_TIMEOUT, default 30 s, with a message on stderr) instead of
  failing half-way, so two processes writing at once lose nothing.
- A run's row holds the config its result came from: resuming a completed run (or a copied
  run directory) makes a new row whose parent_id names the original, which is never changed.
- A run killed with SIGKILL cannot mark itself; `reap_stale` notices its pid is gone.
"""

import json
import math
import os
import re
import secrets
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratchdl.errors import UserError
from scratchdl.store.canon import canonical
from scratchdl.store.claims import ClaimsMixin
from scratchdl.store.connection import (  # noqa: F401  (re-exported)
    BUSY_TIMEOUT_S,
    TIMEOUT_ENV,
    StoreConnection,
    runs_root,
    store_timeout,
)
from scratchdl.store.process import git_revision, pid_alive, pid_start_time
from scratchdl.store.schema import SCHEMA_VERSION, run_columns  # noqa: F401  (re-exported)

STATUSES = ("running", "completed", "failed", "interrupted")
FINAL_STATUSES = ("completed", "failed", "interrupted")
_NEWEST_FIRST = "ORDER BY started_at DESC, rowid DESC"  # rowid breaks same-second ties

# Metric names for which smaller is better: substrings, and whole words for short abbreviations.
_LOWER_SUBSTRINGS = ("loss", "perplexity", "error")
_LOWER_WORDS = {"ppl", "err", "mae", "mse", "rmse", "nll", "fid", "fd", "wer", "cer"}


def lower_is_better(metric: str) -> bool:
    """True for names like 'val_loss', 'perplexity', 'test_error', 'bbox_mae'; else higher wins."""
    name = metric.lower()
    if any(part in name for part in _LOWER_SUBSTRINGS):
        return True
    return any(word in _LOWER_WORDS for word in re.split(r"[^a-z0-9]+", name))


def one_line(error: BaseException) -> str:
    """A failure reason for the store: the exception's first line, at most 300 characters."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    reason = text if isinstance(error, UserError) else f"{name}: {text}" if text else name
    return reason[:300]


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
    run["config"] = json.loads(row["config_json"]) if row["config_json"] else {}
    run["summary"] = json.loads(row["summary_json"]) if row["summary_json"] else {}
    return run


class RunStore(StoreConnection, ClaimsMixin):
    """Runs and their per-epoch metrics in `path` (default runs_root()/'runs.sqlite').

    A store whose file or folder is not writable opens read-only: reading (list, report,
    runs show) works, writing raises a one-line UserError.
    """

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
        parent_id: str | None = None,
    ) -> str:
        """Record a new run as 'running' in this process; returns its id.

        `parent_id`: the run this one continues (a resumed completed run, a copied run dir).
        """
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
            parent_id,
        )
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO runs (id, recipe, config_json, status, seed, started_at, host, "
                    "pid, pid_start, git_rev, run_dir, headline_metric, parent_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as e:
                raise UserError(
                    f"run id {run_id!r} already exists in {self.path}; "
                    "pass another run_id, or resume_run() to continue it"
                ) from e
        return run_id

    def resume_run(self, run_id: str, config: dict | None = None) -> None:
        """Mark an unfinished run 'running' again, owned by this process on this host.

        `config`: the config it now trains with (--epochs may have grown), so the stored config
        is always the one the stored result came from. A completed run is never resumed in
        place: it gets a child run (start_run with parent_id), so its result stays.
        """
        pid = os.getpid()
        config_json = None if config is None else json.dumps(config, sort_keys=True, default=str)
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, host = ?, pid = ?, "
                "pid_start = ?, failure = NULL, headline_value = NULL, "
                "config_json = COALESCE(?, config_json) WHERE id = ? AND status != 'completed'",
                (socket.gethostname(), pid, pid_start_time(pid), config_json, run_id),
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
        failure: str | None = None,
    ) -> None:
        """Close a run as 'completed', 'failed' or 'interrupted', with its final number
        (`failure`: a one-line reason for a failed run)."""
        if status not in FINAL_STATUSES:
            raise UserError(f"finish status must be one of {FINAL_STATUSES}, got {status!r}")
        value = None if headline_value is None else float(headline_value)
        if value is not None and math.isnan(value):
            value = None  # SQLite would store NaN as NULL anyway; say so explicitly
        summary_json = json.dumps(summary, sort_keys=True, default=str) if summary else None
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE runs SET status = ?, ended_at = ?, headline_value = ?, "
                "summary_json = COALESCE(?, summary_json), failure = ? WHERE id = ?",
                (status, _utc_now(), value, summary_json, failure, run_id),
            ).rowcount
        if changed == 0:
            raise self._unknown(run_id)

    def reap_stale(self) -> int:
        """Mark 'interrupted' every run of this host still 'running' whose process is gone.

        Returns how many runs were reaped. Runs of other hosts are left alone: their pids mean
        nothing here.
        """
        if self.read_only:
            return 0
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
            query = f"SELECT {run_columns(self.version)} FROM runs WHERE id = ?"
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
                f"SELECT {run_columns(self.version)} FROM runs {clause}{_NEWEST_FIRST}", params
            ).fetchall()
        return [_run_dict(row) for row in rows]

    def epochs(self, run_id: str) -> list[dict]:
        """[{'epoch': 1, **metrics}, ...] in epoch order; [] if none (or no such run)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT epoch, metrics_json FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [{"epoch": row["epoch"], **json.loads(row["metrics_json"])} for row in rows]

    def best(self, recipe: str, shipped: dict | None = None) -> dict | None:
        """The completed run of `recipe` with the best headline value, or None.

        Best is lowest for loss/perplexity/error-like metric names, else highest. Only runs that
        share the newest run's headline metric compete (the recipe may have changed it). With
        `shipped` (the recipe's resolved config as shipped), only runs of exactly that config,
        any seed, compete: a run with overrides is another experiment.
        """
        want = None if shipped is None else canonical(shipped, without_seed=True)
        completed = [
            run
            for run in self.runs(recipe=recipe, status="completed")
            if run["headline_value"] is not None
            and (want is None or canonical(run["config"], without_seed=True) == want)
        ]
        if not completed:
            return None
        metric = completed[0]["headline_metric"]
        rivals = [run for run in completed if run["headline_metric"] == metric]
        pick = min if lower_is_better(metric or "") else max
        return pick(rivals, key=lambda run: run["headline_value"])

    def children(self, run_id: str) -> list[str]:
        """Ids of the runs that continue `run_id` (its resumed extensions), oldest first."""
        if self.version < 2:
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id FROM runs WHERE parent_id = ? ORDER BY started_at, rowid", (run_id,)
            ).fetchall()
        return [row["id"] for row in rows]

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its epochs from the store (not its directory)."""
        with self._write() as conn:
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            if conn.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount == 0:
                raise self._unknown(run_id)

    def _unknown(self, run_id: str) -> UserError:
        return UserError(
            f"no run with id {run_id!r} in {self.path}; list runs with `scratchdl report` "
            "or RunStore().runs()"
        )
