"""`scratchdl run --nproc N`: start N local processes with torchrun's environment contract.

Each child runs `python -m scratchdl run ...` with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT set, exactly what `torchrun --nproc-per-node N` would give it, so the same code
path serves clusters (torchrun) and one machine (this launcher). If any child fails, the
others are stopped (SIGTERM, then SIGKILL) and the launcher exits with the failing child's
status, so a dead rank never leaves the run hanging.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

GRACE_S = 10.0  # after SIGTERM, how long a child may take to mark the run and exit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(argv: list[str], nproc: int) -> int:
    """Run `scratchdl <argv>` in `nproc` processes; their first non-zero exit code, else 0."""
    port = str(free_port())
    threads = str(max(1, (os.cpu_count() or 1) // nproc))
    children = []
    for rank in range(nproc):
        env = dict(os.environ)
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(nproc),
            LOCAL_WORLD_SIZE=str(nproc),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        env.setdefault("OMP_NUM_THREADS", threads)
        children.append(subprocess.Popen([sys.executable, "-m", "scratchdl", *argv], env=env))
    try:
        return _wait(children)
    except KeyboardInterrupt:
        _stop(children, signal.SIGINT)
        raise


def _wait(children: list[subprocess.Popen]) -> int:
    while True:
        codes = [c.poll() for c in children]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            _stop(children, signal.SIGTERM)
            return int(failed[0]) if failed[0] > 0 else 1
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.2)


def _stop(children: list[subprocess.Popen], sig: int) -> None:
    for c in children:
        if c.poll() is None:
            c.send_signal(sig)
    deadline = time.monotonic() + GRACE_S
    for c in children:
        try:
            c.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
