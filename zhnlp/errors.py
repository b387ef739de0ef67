"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations


class ZhnlpError(Exception):
    """A problem with the user's input or settings; the CLI prints it as ``error: ...``."""


class ZhnlpWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it as
    ``warning: ...``."""


class InputError(ZhnlpError):
    """Bad input data, located by file and line or byte offset where known."""

    def __init__(self, path: str, message: str, *, line: int | None = None,
                 offset: int | None = None) -> None:
        where = str(path)
        if line is not None:
            where += f":{line}"
        if offset is not None:
            where += f" (byte offset {offset})"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.offset = offset
