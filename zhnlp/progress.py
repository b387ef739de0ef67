"""Progress bars on stderr that stay silent when asked to or when nobody is watching."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: float | None = None, *, desc: str = "", unit: str = "it",
                 quiet: bool = False, unit_scale: bool = False) -> tqdm:
    """A tqdm bar on stderr (count, rate, ETA); off with ``quiet`` or when stderr is no terminal."""
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True, leave=False)
