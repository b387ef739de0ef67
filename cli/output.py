"""Writing a command's result to ``-o FILE`` (atomically) or to stdout."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

from zhnlp.io import atomic_write


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    """The handle to write a result to: ``path`` (renamed into place on success) or stdout."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
    else:
        with atomic_write(path, "w", encoding="utf-8") as handle:
            yield handle
