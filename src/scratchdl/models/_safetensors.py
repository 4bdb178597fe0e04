"""A safetensors reader from scratch: 8-byte little-endian header length, a JSON header, raw bytes.

The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
into the byte buffer after the header); "__metadata__" holds free-form strings. No code is
run and nothing is unpickled, so a stranger's file is safe to read. The `safetensors` package
is the twin (tests/models/test_bert_weights.py).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from scratchdl.errors import UserError

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _bad(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} is not a safetensors file ({why}): expected the 8-byte header length, a JSON "
        "header and the tensor bytes; re-download the weights or pass the model.safetensors path"
    )


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of a .safetensors file by name (CPU, the stored dtype)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read weights file {path}: {e.strerror or e}") from None
    if len(data) < 8:
        raise _bad(path, f"only {len(data)} bytes")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8 or n < 2:
        raise _bad(path, f"header length {n} does not fit a {len(data)}-byte file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(path, "header is not JSON") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise _bad(path, f"bad header entry for {name!r}") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != math.prod(shape) * itemsize:
            raise _bad(path, f"tensor {name!r} has offsets {begin}..{end} that do not fit")
        raw = bytearray(body[begin:end])  # a writable copy: torch tensors own their memory
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    return tensors
