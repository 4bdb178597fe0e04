"""Claims: "this process is training (config, seed) now", so concurrent studies never train the
same run twice.

`compare`, `ablate` and `search` claim the canonical config (seed included) before training
it. A second caller that finds the claim waits until it is released and then reuses the
stored result. A claim whose process is gone (killed, crashed) is taken over; claims of
other hosts are respected, since their pids mean nothing here.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

from scratchdl.store.process import pid_alive, pid_start_time


class ClaimsMixin:
    """Claim methods of RunStore (they use its _connect and _write)."""

    def try_claim(self, key: str, recipe: str = "") -> dict | None:
        """Claim `key` for this process; None on success, else the live holder's row (a dict).

        Claiming a key this process already holds succeeds (re-entrant).
        """
        host, pid = socket.gethostname(), os.getpid()
        with self._write() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT * FROM claims WHERE key = ?", (key,)).fetchone()
            if row is not None:
                mine = row["host"] == host and row["pid"] == pid
                dead = row["host"] == host and not pid_alive(row["pid"], row["pid_start"])
                if not (mine or dead):
                    return dict(row)
                conn.execute("DELETE FROM claims WHERE key = ?", (key,))
            conn.execute(
                "INSERT INTO claims (key, recipe, host, pid, pid_start, claimed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, recipe, host, pid, pid_start_time(pid), datetime.now(UTC).isoformat()),
            )
        return None

    def release_claim(self, key: str) -> None:
        """Drop this process's claim on `key` (a no-op if it holds none)."""
        with self._write() as conn:  # type: ignore[attr-defined]
            conn.execute(
                "DELETE FROM claims WHERE key = ? AND host = ? AND pid = ?",
                (key, socket.gethostname(), os.getpid()),
            )

    def wait_for_claim(
        self,
        key: str,
        recipe: str = "",
        poll_s: float = 1.0,
        on_wait: Callable[[dict], None] | None = None,
    ) -> None:
        """Block until this process holds the claim on `key`; `on_wait(holder)` is called once
        if another process holds it first."""
        told = False
        while (holder := self.try_claim(key, recipe)) is not None:
            if not told and on_wait is not None:
                on_wait(holder)
            told = True
            time.sleep(poll_s)
