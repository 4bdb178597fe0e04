"""Atomic checkpoints that load with `weights_only=True`.

Written to a temp file in the same folder, flushed, fsynced and renamed over the old one,
so a kill at any moment leaves either the previous or the new checkpoint, never half of
one. Loading uses torch's weights-only unpickler: a file from a stranger cannot run code.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from scratchdl.errors import UserError


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; anything but plain tensors and containers is refused."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}: expected a run directory with checkpoint.pt")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsafe content"
        raise UserError(
            f"refusing to load {path}: it is not a plain weights checkpoint ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise UserError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__})") from None
    if not isinstance(state, dict) or not ({"model", "modules"} & set(state)):
        raise UserError(f"{path} is not a scratchdl checkpoint (no 'modules' entry)")
    return state
