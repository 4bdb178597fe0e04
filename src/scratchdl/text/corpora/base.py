"""What every text corpus shares: checking that a text is text, reading a UTF-8 file, the
verified cache of parsed texts and the Corpus base class.

Kept apart from corpora.py (which re-exports all of it) so that austen.py, shakespeare.py and
time_machine.py can build on it while corpora.py imports them to register them: no import
cycle, whichever module is imported first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from scratchdl.data.cache import atomic_write_bytes, data_home, quarantine, sha256_bytes
from scratchdl.data.registry import DatasetSpec
from scratchdl.errors import UserError

# ---- checking that a text is text ------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # C0 controls other than \t \n \v \f \r


def check_text(text: str, source: str) -> str:
    """`text` if it is non-empty readable text; UserError naming `source` otherwise.

    Binary data decoded by accident shows as NUL bytes or many control characters.
    """
    if not isinstance(text, str):
        raise UserError(f"{source}: expected text (str), got {type(text).__name__}")
    if not text.strip():
        raise UserError(
            f"{source} is empty: expected text, got {len(text)} characters and no word; "
            "give a non-empty UTF-8 text"
        )
    controls = len(_CONTROL.findall(text))
    if "\x00" in text or controls > max(1, len(text) // 1000):
        first = _CONTROL.search(text)
        raise UserError(
            f"{source} is not text: {controls} of {len(text)} characters are control bytes "
            f"(first at offset {first.start() if first else '?'}); give a UTF-8 text file"
        )
    return text


def read_text_file(path: str | os.PathLike) -> str:
    """A UTF-8 text file as str, BOM dropped and CRLF made LF; UserError if missing, empty or
    binary."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"no text file at {path}: expected a UTF-8 text file") from None
    if b"\x00" in data:
        raise UserError(
            f"{path} is not text: it holds NUL bytes (offset {data.index(0)}); "
            "expected a UTF-8 text file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return check_text(text.replace("\r\n", "\n"), str(path))


# ---- the cache of parsed texts ---------------------------------------------------------------


def corpus_cache_dir() -> Path:
    return data_home() / "corpora"


def _read_pinned(path: Path, sha256: str) -> str | None:
    """The cached text at `path` if its SHA-256 is `sha256`; a wrong file is quarantined."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    actual = sha256_bytes(data)
    if actual != sha256:
        quarantine(path, f"SHA-256 {actual[:12]}... is not the pinned {sha256[:12]}...")
        return None
    return data.decode("utf-8")


def _offline() -> bool:
    return os.environ.get("SCRATCHDL_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _join_works(works: list[str]) -> str:
    """Works one after another, separated by two blank lines; the corpus ends with a newline."""
    return "\n\n\n".join(w.strip("\n") for w in works) + "\n"


class Corpus(DatasetSpec):
    """A text corpus. Subclasses set name, description, pinned_sha256 (None: not pinned) and
    implement sources, _source_present and _build."""

    pinned_sha256: str | None = None

    @property
    def cache_file(self) -> Path:
        return corpus_cache_dir() / f"{self.name}.txt"

    def is_present(self) -> bool:
        return self.cache_file.is_file() or self._source_present()

    def _source_present(self) -> bool:
        return False

    def size_bytes(self) -> int | None:
        return self.cache_file.stat().st_size if self.cache_file.is_file() else None

    def _build(self, fetch: bool) -> str:
        """Parse the corpus from its source (obtaining the source if `fetch`)."""
        raise NotImplementedError

    def load_text(self, fetch: bool = True) -> str:
        """The corpus as one str: from the verified cache, else parsed from the source."""
        if self.pinned_sha256:
            cached = _read_pinned(self.cache_file, self.pinned_sha256)
            if cached is not None:
                return cached
        text = self._build(fetch)
        data = text.encode("utf-8")
        if self.pinned_sha256 and sha256_bytes(data) != self.pinned_sha256:
            raise UserError(
                f"the {self.name} text parsed from its source has SHA-256 "
                f"{sha256_bytes(data)}, not the pinned {self.pinned_sha256}: the source "
                "changed (a new package version?); report this to scratchdl"
            )
        if self.pinned_sha256:
            atomic_write_bytes(self.cache_file, data)
        return text

    def fetch(self) -> str:
        self.load_text(fetch=True)
        return f"{self.name}: verified text in {self.cache_file}"

    def load_arrays(self):
        raise UserError(
            f"{self.name} is a text corpus, not an image set: use "
            f"scratchdl.text.load_corpus({self.name!r})"
        )
