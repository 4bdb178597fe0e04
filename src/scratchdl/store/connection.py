"""Connections to the results store: one per process and thread, read-only mode, the write
lock with a timeout, and the schema on open (see store/sqlite.py for the design)."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scratchdl.errors import UserError
from scratchdl.store.schema import FRESH_TO, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0  # default of $SCRATCHDL_STORE_TIMEOUT
TIMEOUT_ENV = "SCRATCHDL_STORE_TIMEOUT"
_POLL_S = 0.5  # how long one attempt at the write lock waits before we check the clock again
_INHERITED_ACROSS_FORK: list[sqlite3.Connection] = []

# SQLite primary result codes that mean "this file is not a healthy database".
_SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 14, 26


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


def store_timeout() -> float:
    """Seconds a write waits for another writer's lock: $SCRATCHDL_STORE_TIMEOUT, default 30."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UserError(f"{TIMEOUT_ENV} must be a number of seconds >= 0, got {text!r}")
    return value


class StoreConnection:
    """Opening, locking and migrating the store file; RunStore adds the runs on top."""

    def __init__(self, path: str | Path | None = None):
        if path is None:
            root = Path(os.environ.get("SCRATCHDL_RUNS") or "runs").expanduser()
            # a read-only store in an existing folder needs no mkdir
            path = (root if root.is_dir() else runs_root()) / "runs.sqlite"
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise UserError(f"results store {self.path} is a folder; give the path of a file")
        self.read_only = self.path.exists() and not (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        )
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.version = SCHEMA_VERSION
        self._create_schema()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def __getstate__(self) -> dict:  # picklable for multiprocessing 'spawn': the path is enough
        return {"path": self.path, "read_only": self.read_only, "version": self.version}

    def __setstate__(self, state: dict) -> None:
        self.path, self.read_only = state["path"], state.get("read_only", False)
        self.version = state.get("version", SCHEMA_VERSION)
        self._local = threading.local()

    def __enter__(self) -> StoreConnection:
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
        if self.read_only:
            conn = self._read_only_connection()
        else:
            conn = sqlite3.connect(self.path, timeout=_POLL_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: durable across app crashes
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _read_only_connection(self) -> sqlite3.Connection:
        """mode=ro, or immutable=1 where SQLite cannot make the WAL index in a read-only folder."""
        from urllib.parse import quote

        uri = f"file:{quote(str(self.path.resolve()))}"
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)

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
        if self.read_only:
            raise UserError(
                f"results store {self.path} is read-only (no write permission on it or its "
                "folder): list and report work, training needs a writable store "
                "(fix the permissions or set SCRATCHDL_RUNS to another folder)"
            )
        with self._connect() as conn:
            self._begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """Take the write lock, waiting up to store_timeout() with a message on stderr."""
        timeout = store_timeout()
        deadline, warned = time.monotonic() + timeout, False
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"results store {self.path} stayed locked by another writer for "
                        f"{timeout:g} s; try again, or raise {TIMEOUT_ENV} (seconds)"
                    ) from None
                if not warned:
                    print(
                        f"scratchdl: waiting for the results store {self.path}, locked by another "
                        f"writer (up to {timeout:g} s, set by {TIMEOUT_ENV})",
                        file=sys.stderr,
                    )
                    warned = True

    def _create_schema(self) -> None:
        if self.read_only:
            with self._connect() as conn:
                self.version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(self.version)
            return
        with self._connect() as conn:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                mode = _switch_to_wal(conn)
                if mode.lower() != "wal":
                    raise UserError(
                        f"results store {self.path} cannot use WAL mode (got {mode!r}); "
                        "put SCRATCHDL_RUNS on a local disk"
                    )
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
        with self._write() as conn:  # re-check under the lock: another process may have won
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version)
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                version = FRESH_TO[version]
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise UserError(
                f"results store {self.path} has schema version {version}, this scratchdl "
                f"reads up to {SCHEMA_VERSION}; upgrade scratchdl or use another SCRATCHDL_RUNS"
            )


def _switch_to_wal(conn: sqlite3.Connection, attempts: int = 100) -> str:
    """PRAGMA journal_mode = WAL, retried: on a brand-new store opened by several processes at
    once the switch can fail with "database is locked" without waiting on the busy timeout."""
    for attempt in range(attempts):
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")
