"""Facts about the current process the store records: pid liveness and git revision.

Kept apart from the SQL so the liveness rules (zombies, reused pids) are easy to read and test.
"""

import os
import subprocess
from pathlib import Path


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onward), or None if unreadable.

    The command name sits in parentheses and may hold spaces or ')': split at the last ')'.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def pid_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (Linux /proc), or None where unavailable.

    Recorded beside the pid so that a pid later reused by another process is not mistaken for ours.
    """
    fields = _proc_stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])  # field 22 of stat: starttime


def pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """True if `pid` is a live (non-zombie) process on this host, and the same one if we know its
    start time.
    """
    if pid is None or pid <= 0:  # os.kill(0, ...) would address our whole process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but belongs to another user
    fields = _proc_stat_fields(pid)
    if fields is None:  # no /proc (macOS) or it vanished just now: trust os.kill
        return True
    if fields[0] in ("Z", "X"):  # killed but not yet reaped by its parent: it will never finish
        return False
    if start_time is not None and len(fields) >= 20 and int(fields[19]) != start_time:
        return False  # same number, different process
    return True


def git_revision(dirs: list[Path], timeout_s: float = 2.0) -> str | None:
    """`git rev-parse HEAD` of the first of `dirs` inside a git work tree; None if none is or git
    is missing or slow.
    """
    for directory in dirs:
        try:
            result = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        revision = result.stdout.strip()
        if result.returncode == 0 and revision:
            return revision
    return None
