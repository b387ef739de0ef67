"""Where a command's results go: never onto its own inputs, one writer at a time, no debris.

Every command that writes a file or a folder calls :func:`claim` on it before any work.  The
claim refuses an output that is one of the command's inputs (the same file, a hard or
symbolic link to it, or, for a folder output, a folder holding an input), creates the
output's parent folders, takes a lock beside the output (a second command writing the same
path is refused; the lock dies with its process, so a ``kill -9`` never leaves a stale one),
and removes the temporary files that a killed earlier run left there (the ``.NAME.*.tmp``
of :func:`zhnlp.io.atomic_write` and :func:`zhnlp.io.atomic_dir`).  Scratch folders in a
temporary directory (:func:`scratch_dir`) carry their process id, so the next run removes
those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from zhnlp.errors import ZhnlpError

TMP_SUFFIX = ".tmp"  # the suffix of every temporary file and folder that zhnlp writes


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def same_path(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder (through links too)."""
    try:
        return os.path.samefile(a, b)  # hard links and symbolic links included
    except OSError:
        return _real(a) == _real(b)


def _inside(path: str, folder: str) -> bool:
    real, root = _real(path), _real(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def need_folder(path: str | None, option: str) -> None:
    """A one-line error unless ``path`` (given with ``option``) is an existing folder."""
    if path is not None and not os.path.isdir(path):
        what = "not a folder" if os.path.exists(path) else "no such folder"
        raise ZhnlpError(f"{path}: {what} ({option})")


def check_output(out: str, inputs: Iterable[str | None] = (), *, folder: bool = False) -> None:
    """Refuse ``out`` if writing it could destroy one of ``inputs``, or if it is a folder where
    a file belongs (``folder=False``) or a file where a folder belongs."""
    for src in inputs:
        if not src or src == "-":
            continue
        if same_path(out, src):
            raise ZhnlpError(f"{out}: is an input of this command ({src}); "
                             "choose another output")
        if folder and _inside(src, out):
            raise ZhnlpError(f"{out}: holds an input of this command ({src}); "
                             "choose another output folder")
    if folder and os.path.exists(out) and not os.path.isdir(out):
        raise ZhnlpError(f"{out}: is a file; give a folder path")
    if not folder and os.path.isdir(out):
        raise ZhnlpError(f"{out}: is a folder; give a file path")


def _make_parent(out: str) -> str:
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = parent
        while not os.path.exists(blocker):
            blocker = os.path.dirname(blocker)
        raise ZhnlpError(f"{out}: {blocker} is a file, not a folder") from None
    except OSError as exc:
        raise ZhnlpError(f"{out}: cannot create the folder {parent} ({exc.strerror})") from None
    return parent


@contextlib.contextmanager
def _lock(path: str, out: str) -> Iterator[None]:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ZhnlpError(f"{out}: cannot write in {os.path.dirname(path)} "
                             f"({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise ZhnlpError(f"{out}: another zhnlp command (pid {holder}) is writing it; "
                                 "wait for it to finish or choose another output") from None
            raise ZhnlpError(f"{out}: cannot lock {path} ({exc.strerror}); write to a local "
                             "folder") from None
        # The holder before us may have removed the file after we opened it: then our lock is
        # on a file nobody else will see, and we start again on the path's current file.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# mkstemp/mkdtemp put 8 characters of [a-z0-9_] between the prefix and the suffix
_RANDOM = r"\.[a-z0-9_]{8}" + re.escape(TMP_SUFFIX) + "$"


def remove_debris(out: str) -> None:
    """Remove the temporary files and folders that an interrupted write of ``out`` left:
    beside it (``.NAME.*.tmp``) and, when ``out`` is a folder, directly inside it."""
    parent, name = os.path.split(os.path.abspath(out))
    beside = re.compile(r"\." + re.escape(name) + r"(\.old)?" + _RANDOM)
    for entry in os.listdir(parent):
        if beside.match(entry):
            _remove(os.path.join(parent, entry))
    if os.path.isdir(out):
        inside = re.compile(r"\..+" + _RANDOM)
        for entry in os.listdir(out):
            if inside.match(entry):
                _remove(os.path.join(out, entry))


@contextlib.contextmanager
def claim(out: str | None, inputs: Iterable[str | None] = (), *, folder: bool = False,
          lock: bool = True) -> Iterator[None]:
    """Hold ``out`` for the duration of a command; see the module's docstring.

    ``None`` and ``-`` (stdout) need nothing.  ``lock=False`` checks the path and prepares its
    folder without locking (the other ranks of a distributed run, which write where rank 0
    holds the lock).
    """
    if out is None or out == "-":
        yield
        return
    check_output(out, inputs, folder=folder)
    parent = _make_parent(out)
    if not lock:
        yield
        return
    with _lock(os.path.join(parent, f".{os.path.basename(os.path.abspath(out))}.lock"), out):
        remove_debris(out)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def scratch_dir(tag: str, parent: str | None = None) -> Iterator[str]:
    """A private temporary folder ``zhnlp-TAG-PID-*`` in ``parent`` (default: the system's),
    removed at the end; those of processes that died before removing theirs go first."""
    parent = parent or tempfile.gettempdir()
    if not os.path.isdir(parent):
        raise ZhnlpError(f"{parent}: no such folder (for temporary files)")
    pattern = re.compile(rf"zhnlp-{re.escape(tag)}-(\d+)-")
    for entry in os.listdir(parent):
        found = pattern.match(entry)
        if found and not _alive(int(found.group(1))):
            _remove(os.path.join(parent, entry))
    try:
        path = tempfile.mkdtemp(prefix=f"zhnlp-{tag}-{os.getpid()}-", dir=parent)
    except OSError as exc:
        raise ZhnlpError(f"{parent}: cannot create a temporary folder ({exc.strerror})") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
