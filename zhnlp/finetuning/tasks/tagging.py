"""Named entities on a user's own files (``--task ner``): character tagging as for CLUENER,
with the entity types read from the training data.

Two formats: CLUENER's JSON lines (``{"text": ..., "label": {type: {text: [[start, end]]}}}``,
suffix ``.json``/``.jsonl``) and CoNLL columns (any other suffix: one ``character TAG`` per
line, a blank line between sentences; MSRA NER's format).  CoNLL tags are read in any of
BIO, BIOES or BMES, checked strictly: a file mixing ``I-`` and ``M-`` tags, an ``I-``/``M-``/
``E-`` tag that does not continue an entity of its type, or (BIOES/BMES) an entity left open,
is an error naming its line.  The model tags in BIO whatever the file's scheme.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO

from zhnlp.errors import InputError
from zhnlp.finetuning.scoring import Entity
from zhnlp.finetuning.tasks.base import text_line
from zhnlp.finetuning.tasks.cluener import ClueNer, Sentence, bio_tags, entity_row
from zhnlp.finetuning.tasks.own import GivenFiles
from zhnlp.io import open_file

JSON_SUFFIXES = (".json", ".jsonl")
PREFIXES = {"B", "I", "M", "E", "S"}


def conll_sentences(path: str, *, tagged: bool = True) -> list[tuple[list[int], str, list[str]]]:
    """(line of each character, text, tags) of each sentence of a ``character TAG`` file;
    unless ``tagged``, a line may hold the character alone (tagged O)."""
    out: list[tuple[list[int], str, list[str]]] = []
    lines: list[int] = []
    chars: list[str] = []
    tags: list[str] = []
    with open_file(path) as handle:
        for lineno, raw in enumerate(handle, 1):
            line = text_line(raw, path, lineno).rstrip("\r\n")
            if not line.strip():
                if chars:
                    out.append((lines, "".join(chars), tags))
                    lines, chars, tags = [], [], []
                continue
            parts = line.split()
            if not tagged and len(parts) == 1:
                parts.append("O")
            if len(parts) != 2 or len(parts[0]) != 1:
                raise InputError(path, "expected one character and its tag ('中 B-LOC'), got "
                                 f"{line[:40]!r}", line=lineno)
            tag = parts[1]
            if tag != "O" and (tag[:1] not in PREFIXES or tag[1:2] != "-" or not tag[2:]):
                raise InputError(path, f"tag {tag!r} is neither O nor B-, I-, M-, E-, S- "
                                 "followed by a type", line=lineno)
            lines.append(lineno)
            chars.append(parts[0])
            tags.append(tag)
    if chars:
        out.append((lines, "".join(chars), tags))
    return out


def tag_spans(tags: Sequence[str], lines: Sequence[int], path: str, *, closed: bool,
              ) -> frozenset[Entity]:
    """The entities ``[start, end]`` of a sentence's tags; ``closed``: the scheme ends every
    entity with an ``E-`` tag or gives it one ``S-`` tag (BIOES, BMES), else BIO."""
    found: set[Entity] = set()
    kind: str | None = None
    start = -1
    for i, tag in enumerate(tags):
        prefix, this = tag[0], tag[2:]
        if prefix in "IME" and kind != this:
            before = f"after {tags[i - 1]}" if i else "at the start of a sentence"
            raise InputError(path, f"{tag} cannot start an entity ({before})", line=lines[i])
        if prefix in "IM":
            continue
        if prefix == "E":
            found.add((this, start, i))
            kind = None
            continue
        if kind is not None:  # O, B- or S- after an open entity
            if closed:
                raise InputError(path, f"the {kind} entity begun on line {lines[start]} is "
                                 f"not closed with E-{kind} before {tag}", line=lines[i])
            found.add((kind, start, i - 1))
            kind = None
        if prefix == "B":
            kind, start = this, i
        elif prefix == "S":
            found.add((this, i, i))
    if kind is not None:
        if closed:
            raise InputError(path, f"the {kind} entity begun on line {lines[start]} is not "
                             "closed at the end of its sentence", line=lines[-1])
        found.add((kind, start, len(tags) - 1))
    return frozenset(found)


def scheme_tags(length: int, spans: Sequence[Entity], scheme: str = "BIO") -> list[str]:
    """The tags of a sentence's entities in ``scheme`` (BIO, BIOES or BMES), what
    :func:`read_conll` reads back (overlapping spans: the first by start wins)."""
    if scheme not in ("BIO", "BIOES", "BMES"):
        raise ValueError(f"unknown tag scheme {scheme!r}")
    bio, _ = bio_tags(length, sorted(spans))
    if scheme == "BIO":
        return bio
    inside = "M" if scheme == "BMES" else "I"
    out = list(bio)
    for i, tag in enumerate(bio):
        if tag != "O":
            last = i + 1 == len(bio) or not bio[i + 1].startswith("I-")
            prefix = {("B", True): "S", ("B", False): "B", ("I", True): "E",
                      ("I", False): inside}[(tag[0], last)]
            out[i] = f"{prefix}-{tag[2:]}"
    return out


def read_conll(path: str, *, tagged: bool = True) -> list[tuple[int, str, frozenset[Entity]]]:
    """(first line, text, entities) of each sentence of a CoNLL file, in BIO, BIOES or BMES
    (``tagged=False``: characters alone are allowed)."""
    sentences = conll_sentences(path, tagged=tagged)
    seen: dict[str, int] = {}  # inside-tag prefix -> its first line
    for lines, _, tags in sentences:
        for line, tag in zip(lines, tags):
            if tag[0] in "IM":
                seen.setdefault(tag[0], line)
    if len(seen) == 2:
        raise InputError(path, "mixes tag schemes: I- tags (BIO, BIOES) from line "
                         f"{seen['I']} and M- tags (BMES) from line {seen['M']}",
                         line=max(seen.values()))
    closed = any(t[0] in "ESM" for _, _, tags in sentences for t in tags)
    return [(lines[0], text, tag_spans(tags, lines, path, closed=closed))
            for lines, text, tags in sentences]


class EntityTagging(GivenFiles, ClueNer):
    """Character-level entity tagging of the user's files, the types being the training
    file's (sorted)."""

    name = "ner"
    labels_in_model = True
    submission = "entities.jsonl"

    def __init__(self, crf: bool = False, train: str | None = None, dev: str | None = None,
                 test: str | None = None) -> None:
        ClueNer.__init__(self, crf)
        self.given_files((".json", ".jsonl", ".txt", ".conll", ".bmes", ".bio", ".tsv"),
                         train, dev, test)

    def labels(self, data: str | None) -> list[str]:
        (path,) = self.find(data, "train")
        self.types = ()  # any type: the training file defines them
        found = self.read(path, [], labelled=True)
        self.types = tuple(sorted({kind for s in found for kind, _, _ in s.entities or ()}))
        if not self.types:
            raise InputError(path, "no entities in the training file")
        return super().labels(data)

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Sentence]:
        if labels:  # the types of a trained model, or of the training file
            self.types = tuple(dict.fromkeys(label[2:] for label in labels if label != "O"))
        if path.endswith(JSON_SUFFIXES):
            return super().read(path, labels, labelled=labelled)
        known = self.types or None
        out = []
        for line, text, found in read_conll(path, tagged=labelled):
            for kind, _, _ in found:
                if labelled and known is not None and kind not in known:
                    raise InputError(path, f"unknown entity type {kind!r} (types of the "
                                     f"training file: {', '.join(known)})", line=line)
            out.append(Sentence(text, found if labelled else None, line))
        return out

    def write(self, predicted: Sequence[set[Entity]], examples: Sequence[Sentence],
              handle: IO[str]) -> None:
        for e, found in zip(examples, predicted):
            handle.write(json.dumps(entity_row(e, found), ensure_ascii=False) + "\n")
