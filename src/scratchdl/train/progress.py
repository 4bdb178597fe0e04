"""A progress bar with live loss and throughput; silent off a TTY or when asked."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm


def progress(it: Iterable[Any], *, total: int, desc: str, enabled: bool) -> Iterator[Any] | tqdm:
    if not enabled or not sys.stderr.isatty():
        return iter(it)
    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True, unit="batch")


def show(bar: Any, **values: Any) -> None:
    """Update the bar's postfix if it is a real bar."""
    if isinstance(bar, tqdm):
        bar.set_postfix(values, refresh=False)
