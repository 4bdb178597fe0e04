"""Read an existing run directory (config.toml and meta.json) without running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scratchdl.config import Config, load_toml
from scratchdl.errors import UserError


def load_run_config(run_dir: str | Path) -> tuple[Config, dict[str, Any]]:
    """The resolved config and meta.json of an existing run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file() or not (run_dir / "meta.json").is_file():
        raise UserError(f"{run_dir} is not a scratchdl run directory (no config.toml/meta.json)")
    return load_toml(run_dir / "config.toml"), json.loads((run_dir / "meta.json").read_text())
