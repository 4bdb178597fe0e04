"""The on-disk data cache: where it lives, atomic writes, and verified .npz entries.

A verified entry is `NAME.npz` plus `NAME.npz.sha256` beside it. An entry whose bytes do not
match its stored hash (or that fails to parse) is quarantined: renamed to `NAME.npz.corrupt`,
so it is never read again and the caller rebuilds it from a good source. What was done is
one line on stderr (`notice`), never a traceback or a Python warning.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# np.savez stamps each member with the current time; a fixed stamp makes the bytes (and hash) of
# an entry a pure function of its arrays, so two processes (e.g. torchrun ranks) that build the
# same entry at once write identical files and never disagree about its hash.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def data_home() -> Path:
    """Root of the cache: $SCRATCHDL_DATA if set, else ~/.cache/scratchdl."""
    env = os.environ.get("SCRATCHDL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scratchdl"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the whole new one, never a part.

    The temp file sits in the same directory, so os.replace is a rename within one filesystem.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a cache is not secret
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of an uncompressed .npz holding `arrays` (readable by np.load), deterministic."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> str:
    """Atomically write `arrays` as an .npz at `path`; returns the file's SHA-256."""
    data = npz_bytes(arrays)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def _hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def notice(message: str) -> None:
    """Tell the user something went wrong but was handled: one line on stderr, no source path.

    (A `warnings.warn` would print two lines, the second one scratchdl's own source code.)
    """
    print(f"scratchdl: {message}", file=sys.stderr, flush=True)


def quarantine(path: str | os.PathLike, reason: str, announce: bool = True) -> str:
    """Take a bad data file out of use: rename it to *.corrupt (replacing an older one).

    Returns the one-line description; `announce=False` leaves telling the user to the caller
    (who may have a better line to say, e.g. an error that includes it).
    """
    path = Path(path)
    message = (
        f"{path} is corrupt ({reason}); moved aside to {path.name}.corrupt, never to be used again"
    )
    try:
        os.replace(path, path.with_name(path.name + ".corrupt"))
    except FileNotFoundError:
        return message  # another process got there first
    _hash_path(path).unlink(missing_ok=True)
    if announce:
        notice(message)
    return message


def save_verified_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write a verified cache entry: the hash first, then the data.

    Readers treat a data file without a matching hash as corrupt, so the hash must already be
    there when the data file appears; since the bytes are deterministic, concurrent writers of
    the same arrays write the same hash.
    """
    path = Path(path)
    data = npz_bytes(arrays)
    atomic_write_bytes(_hash_path(path), (sha256_bytes(data) + "\n").encode())
    atomic_write_bytes(path, data)


def load_verified_npz(
    path: str | os.PathLike, problem: list[str] | None = None
) -> dict[str, np.ndarray] | None:
    """Arrays of a verified entry, or None if absent; a corrupt entry is quarantined (-> None).

    With a `problem` list, the quarantine is not announced: its line is appended there instead.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        expected = _hash_path(path).read_text().strip()
    except FileNotFoundError:
        expected = ""
    actual = sha256_bytes(data)
    if actual != expected:
        reason = f"SHA-256 {actual[:12]}... does not match stored {expected[:12] or 'nothing'}"
        _quarantine_into(path, reason, problem)
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        _quarantine_into(path, f"cannot be parsed: {e}", problem)
        return None


def _quarantine_into(path: Path, reason: str, problem: list[str] | None) -> None:
    message = quarantine(path, reason, announce=problem is None)
    if problem is not None:
        problem.append(message)
