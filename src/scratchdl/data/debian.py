"""Files shipped in Debian packages, found without root: system copy first, else unpack the .deb.

`debian_root(package, files)` returns a directory `root` such that `root / f` exists for every
path in `files` (absolute Debian paths given without the leading slash). With the package
installed that is `/`; otherwise `apt-get download` + `dpkg -x` unpack it into our cache,
which works as any user on Debian/Ubuntu and needs no installation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from scratchdl.data.cache import data_home
from scratchdl.errors import UserError


def _offline() -> bool:
    return os.environ.get("SCRATCHDL_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _complete(root: Path, files: list[str]) -> bool:
    return all((root / f).is_file() for f in files)


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(
            f"`{' '.join(cmd)}` exited {proc.returncode}: {lines[-1] if lines else 'no output'}"
        )


def deb_cache_dir(package: str) -> Path:
    return data_home() / "deb" / package


def debian_root(package: str, files: list[str], fetch: bool = True) -> Path:
    """A directory holding every path in `files` from Debian `package` (see module doc).

    fetch=False only looks. Raises UserError naming the package when it cannot be had.
    """
    system = Path(os.environ.get("SCRATCHDL_DEBIAN_ROOT", "/"))
    if _complete(system, files):
        return system
    cached = deb_cache_dir(package)
    if _complete(cached, files):
        return cached
    how = f"install it (`apt-get install {package}`) or run `scratchdl data fetch` online"
    if not fetch or _offline() or shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise UserError(f"Debian package {package} is not here; {how}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
        work = Path(tmp)
        try:
            _run(["apt-get", "download", package], cwd=work)
            debs = sorted(work.glob(f"{package}_*.deb"))
            if not debs:
                raise OSError("apt-get download produced no .deb")
            _run(["dpkg", "-x", str(debs[0]), str(work / "root")], cwd=work)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UserError(f"could not fetch Debian package {package} ({e}); {how}") from None
        if not _complete(work / "root", files):
            missing = [f for f in files if not (work / "root" / f).is_file()]
            raise UserError(f"Debian package {package} lacks {missing[0]}; report this")
        if cached.exists():
            shutil.rmtree(cached)
        os.replace(work / "root", cached)  # atomic: a half-unpacked tree is never seen
    return cached
