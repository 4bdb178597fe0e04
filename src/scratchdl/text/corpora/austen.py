"""Jane Austen's six novels from Debian's r-cran-janeaustenr: the R lazy-load data (.rdx index,
.rdb objects) read with the `rdata` package (R is not needed), in publication order, pinned.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings
import zlib
from pathlib import Path

from scratchdl.data.cache import data_home
from scratchdl.data.debian import debian_root
from scratchdl.errors import UserError
from scratchdl.text.corpora.base import Corpus, _join_works

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
