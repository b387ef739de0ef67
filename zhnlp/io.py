"""Reading corpora (plain, gzip, bzip2, stdin; ASCII-compatible encodings); atomic writes."""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.outputs import TMP_SUFFIX
from zhnlp.progress import progress_bar

CHUNK_BYTES = 1 << 22
# The most of one line held in memory.  Longer lines are cut at a character boundary when
# the reader does not need whole lines (counting n-grams or characters), refused otherwise.
LONG_LINE = 1 << 24


def check_encoding(encoding: str) -> str:
    """Return the codec's canonical name, refusing encodings whose newline is not the byte 0x0A.

    Corpora are cut into chunks at newline bytes, which is only safe where every multi-byte
    sequence avoids 0x0A: UTF-8, GB18030, GBK, Big5 and the other ASCII-compatible codecs.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ZhnlpError(f"unknown encoding {encoding!r}") from None
    if "a\n".encode(name) != b"a\n":
        raise ZhnlpError(f"encoding {encoding!r} is not supported: use an ASCII-compatible one "
                         "(utf-8, gb18030, gbk, big5) or convert the file with iconv")
    return name


def open_file(path: str) -> IO[bytes]:
    """``path`` opened for reading bytes, or a one-line error saying why it cannot be."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None


@contextlib.contextmanager
def _open_raw(path: str) -> Iterator[tuple[IO[bytes], IO[bytes], int | None]]:
    """Yield (decompressed stream, raw stream for progress, raw size)."""
    if path == "-":
        yield sys.stdin.buffer, sys.stdin.buffer, None
        return
    with open_file(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        if path.endswith(".gz"):
            yield gzip.GzipFile(fileobj=raw), raw, size
        elif path.endswith(".bz2"):
            yield bz2.BZ2File(raw), raw, size
        else:
            yield raw, raw, size


def _read_blocks(stream: IO[bytes], path: str) -> Iterator[bytes]:
    try:
        while block := stream.read(CHUNK_BYTES):
            yield block
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz/.bz2
        raise InputError(path, f"cannot decompress: {exc}") from None


def _char_cut(data: bytes, encoding: str) -> int:
    """A position in ``data`` where no character is split (0 if there is none)."""
    if encoding == "utf-8":  # before the last byte that is not a continuation byte
        for i in range(len(data) - 1, max(len(data) - 8, 0), -1):
            if not 0x80 <= data[i] <= 0xBF:
                return i
        return 0
    # ASCII bytes below "0" are never part of a multi-byte character in GB18030, GBK, Big5
    # and the other ASCII-compatible codecs (GB18030's four-byte forms use the digits)
    return max(data.rfind(bytes([b])) for b in range(0x30)) + 1


def iter_text(path: str, encoding: str = "utf-8", *, quiet: bool = True,
              whole_lines: bool = False) -> Iterator[str]:
    """Yield the decoded text of one corpus file in chunks that end at line boundaries.

    Raises :class:`InputError` naming the file, line and byte offset (of the decompressed
    stream) for a NUL byte (a binary file), a byte sequence that is not ``encoding``, or an
    empty file.  Reading is streamed: memory stays at a few chunks whatever the file's size.
    A line longer than ``LONG_LINE`` bytes (16 MiB) is cut at a character boundary into
    chunks that do not end at a line break, or, with ``whole_lines``, refused.
    """
    encoding = check_encoding(encoding)
    with _open_raw(path) as (stream, raw, size), \
            progress_bar(size, desc=os.path.basename(path) or "stdin", unit="B",
                         unit_scale=True, quiet=quiet) as bar:
        offset = 0  # of the first byte of ``pending`` in the decompressed stream
        line = 1
        pending = b""
        first = True
        last_pos = 0
        for block in _read_blocks(stream, path):
            data = pending + block
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) >= LONG_LINE:
                if whole_lines:
                    raise InputError(path, f"a line longer than {LONG_LINE >> 20} MiB (no line "
                                     "break): split the text into lines", line=line)
                cut = _char_cut(data, encoding)
                if cut == 0:
                    raise InputError(path, f"a line longer than {LONG_LINE >> 20} MiB with no "
                                     "character boundary to cut at", line=line, offset=offset)
            if cut == 0:
                pending = data
                continue
            text = _decode(data[:cut], path, encoding, offset, line, strip_bom=first)
            first = False
            yield text
            line += data.count(b"\n", 0, cut)
            offset += cut
            pending = data[cut:]
            if raw.seekable():
                pos = raw.tell()
                bar.update(pos - last_pos)
                last_pos = pos
        if pending:
            yield _decode(pending, path, encoding, offset, line, strip_bom=first)
        if offset + len(pending) == 0:
            raise InputError(path, "file is empty")


def _decode(data: bytes, path: str, encoding: str, offset: int, line: int, *,
            strip_bom: bool) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(path, "not a text file (NUL byte)", line=line + data.count(b"\n", 0, nul),
                         offset=offset + nul)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not valid {encoding} text (try --encoding)",
                         line=line + data.count(b"\n", 0, exc.start),
                         offset=offset + exc.start) from None
    return text[1:] if strip_bom and text.startswith("\ufeff") else text


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) files; a result gets the usual mode instead
FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()


def _temp(path: str, make: Any) -> Any:
    """``make(dir=..., prefix=..., suffix=...)`` beside ``path``, with a one-line error."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        return make(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=TMP_SUFFIX)
    except FileNotFoundError:
        raise ZhnlpError(f"{path}: the folder {directory} does not exist") from None
    except OSError as exc:
        raise ZhnlpError(f"{path}: cannot write in {directory} ({exc.strerror})") from None


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and rename it over ``path`` only on success.

    A reader never sees a half-written file, and an error or a kill leaves any earlier
    ``path`` untouched (the temporary ``.NAME.*.tmp`` left by a kill is removed by the next
    command that claims ``path``, see :mod:`zhnlp.outputs`).
    """
    fd, tmp = _temp(path, tempfile.mkstemp)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """A temporary directory beside ``path`` that replaces ``path`` only on success.

    An earlier ``path`` is swapped out whole, so a reader sees the old directory or the new
    one, never a mix.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = _temp(path, tempfile.mkdtemp)
    try:
        os.chmod(tmp, DIR_MODE)
        yield tmp
        if os.path.exists(path):
            old = _temp(path, tempfile.mkdtemp)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
