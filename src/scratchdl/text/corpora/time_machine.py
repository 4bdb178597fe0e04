"""H. G. Wells, The Time Machine (Project Gutenberg eBook #35), online only and trusted on
first use; and the stripping of Project Gutenberg headers and footers (Shakespeare's texts use
it too).
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from scratchdl.data.cache import atomic_write_bytes, data_home, quarantine, sha256_bytes
from scratchdl.errors import UserError
from scratchdl.text.corpora.base import Corpus, _offline, check_text

# ---- Project Gutenberg boilerplate -----------------------------------------------------------

_START = re.compile(r"^\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.I | re.M)
_END = re.compile(r"^\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.I | re.M)
# Texts from the 1990s: the licence ends with "*END*THE SMALL PRINT!..." and the footer starts
# with "End of (the) Project Gutenberg('s) Etext/EBook ...".
_OLD_START = re.compile(r"^\*END\*THE SMALL PRINT!.*$", re.I | re.M)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t\r]*\n)+")
_OLD_END = re.compile(r"^End of (?:the )?Project Gutenberg'?s? E-?(?:text|book).*$", re.I | re.M)


def has_gutenberg_markers(text: str) -> bool:
    """True if `text` has both the modern START and END markers of a Project Gutenberg file."""
    return bool(_START.search(text)) and bool(_END.search(text))


def strip_gutenberg(text: str) -> str:
    """The body of a Project Gutenberg file: the header before the START marker (licence,
    metadata) and the footer from the END marker on are cut; leading and trailing blank lines
    too. A text without markers comes back with only its blank edge lines removed.
    """
    start = _START.search(text) or _OLD_START.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text) or _OLD_END.search(text)
    if end:
        text = text[: end.start()]
    return _LEADING_BLANK_LINES.sub("", text).rstrip()


# ---- The Time Machine (Project Gutenberg #35, online, trust on first use) --------------------

TIME_MACHINE_URL = "https://www.gutenberg.org/cache/epub/35/pg35.txt"
TIME_MACHINE_TITLE = re.compile(r"^Title:\s*The Time Machine\s*$", re.I | re.M)


def _hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def parse_time_machine(raw: bytes, source: str) -> str:
    """The book's body from the raw Gutenberg file; UserError if it does not look like #35."""
    if b"\x00" in raw:
        raise UserError(f"{source} is not text (NUL bytes): not The Time Machine; delete it")
    text = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
    if not has_gutenberg_markers(text):
        raise UserError(
            f"{source} lacks the Project Gutenberg START/END markers: not the eBook #35 text "
            "(an error page?); delete it and fetch again"
        )
    header = text[: _START.search(text).start()]
    if not TIME_MACHINE_TITLE.search(header):
        raise UserError(f"{source} is a Gutenberg eBook but not titled The Time Machine")
    return check_text(strip_gutenberg(text) + "\n", source)


class TimeMachine(Corpus):
    """The Time Machine. Trust on first use: no hash could be pinned when this was written (no
    internet here), so the first download's SHA-256 is recorded in pg35.txt.sha256 and every
    later load must match it; a mismatch quarantines the file and asks for a new download."""

    name = "time-machine"
    description = "H. G. Wells, The Time Machine (Project Gutenberg #35), online only"
    url = TIME_MACHINE_URL

    @property
    def raw_file(self) -> Path:
        return data_home() / "time-machine" / "pg35.txt"

    @property
    def sources(self) -> list[str]:
        return [str(self.raw_file), f"{self.url} (online)"]

    def _source_present(self) -> bool:
        return self.raw_file.is_file()

    def fetch(self) -> str:
        self.load_text(fetch=True)
        recorded = _hash_file(self.raw_file).read_text().strip()
        return f"{self.name}: {self.raw_file} (SHA-256 {recorded}, recorded at first download)"

    def is_present(self) -> bool:
        return self._source_present()

    def size_bytes(self) -> int | None:
        return self.raw_file.stat().st_size if self.raw_file.is_file() else None

    def _download(self) -> None:
        if _offline():
            raise UserError(
                f"The Time Machine is not in {self.raw_file} and SCRATCHDL_OFFLINE=1: fetch it "
                "online (`python -m scratchdl.text.corpora fetch time-machine`) or use austen"
            )
        request = urllib.request.Request(self.url, headers={"User-Agent": "scratchdl"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except OSError as e:
            raise UserError(
                f"could not download The Time Machine from {self.url} ({e}); offline, use "
                "load_corpus('austen')"
            ) from None
        parse_time_machine(raw, self.url)  # refuse a page that is not the book before keeping it
        # Record the hash first, then the text: a text without its record is never trusted.
        atomic_write_bytes(_hash_file(self.raw_file), (sha256_bytes(raw) + "\n").encode())
        atomic_write_bytes(self.raw_file, raw)

    def _build(self, fetch: bool) -> str:
        if not self.raw_file.is_file():
            if not fetch:
                raise UserError(
                    f"The Time Machine is not in {self.raw_file}: fetch it online "
                    "(`python -m scratchdl.text.corpora fetch time-machine`)"
                )
            self._download()
        raw = self.raw_file.read_bytes()
        try:
            recorded = _hash_file(self.raw_file).read_text().strip()
        except FileNotFoundError:
            recorded = "nothing"
        if sha256_bytes(raw) != recorded:
            quarantine(self.raw_file, "SHA-256 differs from the one recorded at download")
            raise UserError(
                f"{self.raw_file} changed since it was downloaded (SHA-256 "
                f"{sha256_bytes(raw)[:12]}..., recorded {recorded[:12]}...); it was moved aside: "
                "fetch it again (`python -m scratchdl.text.corpora fetch time-machine`)"
            )
        return parse_time_machine(raw, str(self.raw_file))
