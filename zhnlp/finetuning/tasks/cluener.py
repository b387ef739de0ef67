"""CLUENER2020: fine-grained named entities, tagged character by character (BIO).

Each character is one word for the tokenizer, so a tag belongs to exactly one character;
characters that give no token (spaces) are skipped by the tags and bridged inside an
entity.  Spans are ``[start, end]`` inclusive, as CLUENER writes them; the metric is
entity-level F1 (type, start and end must all match), per type and overall.  With
``crf=True`` a linear-chain CRF over the character tags is trained and decoded (Viterbi)
instead of the per-character argmax.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from zhnlp.errors import InputError
from zhnlp.finetuning.scoring import Entity, entities, entity_scores
from zhnlp.finetuning.tasks.base import Encoded, Ids, Task, get, json_lines

TYPES = ("address", "book", "company", "game", "government", "movie", "name",
         "organization", "position", "scene")
IGNORE = -100  # the label index transformers' losses skip
CRF_FILE = "crf.json"
SENTENCE_ENDS = "。！？；!?;"


class Sentence(NamedTuple):
    text: str
    entities: frozenset[Entity] | None
    id: Any


def bio_tags(length: int, spans: Sequence[Entity]) -> tuple[list[str], int]:
    """The BIO tag of each character, and how many spans overlapped an earlier one (BIO
    cannot hold two entities on one character: the first by start wins)."""
    tags = ["O"] * length
    dropped = 0
    for kind, start, end in sorted(spans, key=lambda e: (e[1], e[2], e[0])):
        if any(t != "O" for t in tags[start:end + 1]):
            dropped += 1
            continue
        tags[start:end + 1] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start)
    return tags, dropped


def spans_of(tags: Sequence[str | None]) -> set[Entity]:
    """Entities of a tag sequence: ``B-x`` opens one, ``I-x`` extends it, anything else
    closes it (a stray ``I-x`` opens nothing, as CLUENER's own decoder does); ``None`` marks
    a character without a token and neither extends nor closes."""
    out: set[Entity] = set()
    kind, start, end = None, -1, -1
    for i, tag in enumerate(tags):
        if tag is None:
            continue
        if tag.startswith("I-") and kind == tag[2:]:
            end = i
            continue
        if kind is not None:
            out.add((kind, start, end))
            kind = None
        if tag.startswith("B-"):
            kind, start, end = tag[2:], i, i
    if kind is not None:
        out.add((kind, start, end))
    return out


class ClueNer(Task):
    name = "cluener"
    head = "TokenClassification"
    metric = "f1"
    per_token = True
    files = {"train": ("train.json",), "dev": ("dev.json",), "test": ("test.json",)}
    submission = "cluener_predict.json"

    def __init__(self, crf: bool = False) -> None:
        self.crf = crf
        self.crf_: Any = None
        self.types: tuple[str, ...] = TYPES

    def start(self, model: Any) -> list[Any]:
        if not self.crf:
            return []
        from zhnlp.finetuning.crf import CRF

        self.crf_ = CRF(model.config.num_labels).to(model.device)
        return list(self.crf_.parameters())

    def save_extra(self, path: str) -> None:
        if self.crf_ is not None:
            with open(os.path.join(path, CRF_FILE), "w", encoding="utf-8") as handle:
                json.dump(self.crf_.to_json(), handle)

    def load_extra(self, path: str) -> None:
        if os.path.exists(os.path.join(path, CRF_FILE)):
            from zhnlp.finetuning.crf import CRF

            self.crf, self.crf_ = True, CRF.from_json(os.path.join(path, CRF_FILE))

    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        if self.crf_ is None:
            return super().loss(model, batch)
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return self.crf_.nll(model(**inputs).logits, batch["labels"], batch["labels"] != IGNORE)

    def labels(self, data: str | None) -> list[str]:
        return ["O"] + [f"{p}-{t}" for t in self.types for p in "BI"]

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Sentence]:
        out = []
        ids = Ids(path)
        for lineno, obj in json_lines(path):
            text = str(get(obj, "text", path, lineno))
            found = None
            if labelled:
                found = entities_checked(get(obj, "label", path, lineno), text, path, lineno,
                                         self.types or None)
            out.append(Sentence(text, found, ids.take(obj.get("id", lineno - 1), lineno)))
        return out

    def texts(self, examples: Sequence[Sentence]) -> Iterator[str]:
        return (e.text for e in examples)

    def encode(self, tokenizer: Any, examples: Sequence[Sentence], labels: list[str],
               max_len: int) -> Encoded:
        """One row per window of a sentence (:func:`windows`: a sentence longer than a model
        input is cut, at a sentence end where there is one, never truncated)."""
        import torch

        pieces = [(n, start, e.text[start:end]) for n, e in enumerate(examples)
                  for start, end in windows(e.text, max_len - 2)]
        enc = tokenizer([list(text) for _, _, text in pieces], is_split_into_words=True,
                        truncation=True, max_length=max_len, padding=True,
                        return_tensors="pt")
        width = enc["input_ids"].shape[1]
        # the character (of the whole sentence) whose tag each position carries, or -1
        chars = np.full((len(pieces), width), -1, dtype=np.int64)
        for row, (_, start, _) in enumerate(pieces):
            ids = enc.word_ids(row)
            for pos, w in enumerate(ids):
                # the first token of a character carries its tag
                if w is not None and (pos == 0 or ids[pos - 1] != w):
                    chars[row, pos] = start + w
        example = np.array([n for n, _, _ in pieces], dtype=np.int64)
        ends = np.array([start + len(text) for _, start, text in pieces], dtype=np.int64)
        targets = {}
        if examples[0].entities is not None:
            index = {label: i for i, label in enumerate(labels)}
            tags = [bio_tags(len(e.text), sorted(e.entities))[0] for e in examples]
            y = np.full(chars.shape, IGNORE, dtype=np.int64)
            for row, n in enumerate(example):
                at = chars[row] >= 0
                y[row, at] = [index[tags[n][c]] for c in chars[row, at]]
            targets["labels"] = torch.from_numpy(y)
        return Encoded(dict(enc), targets, example, {"chars": chars, "ends": ends})

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Sentence], labels: list[str]) -> list[set[Entity]]:
        chars = enc.extra["chars"]
        if self.crf_ is not None:
            import torch

            on = self.crf_.start.device
            paths = self.crf_.viterbi(torch.from_numpy(outputs["logits"]).to(on),
                                      torch.from_numpy(chars >= 0).to(on))
            best = np.zeros(chars.shape, dtype=np.int64)
            for row, path in enumerate(paths):
                best[row, chars[row] >= 0] = path
        else:
            best = outputs["logits"].argmax(-1)
        tags: list[list[str | None]] = [[None] * len(e.text) for e in examples]
        for row, n in enumerate(enc.example):
            at = chars[row] >= 0
            for c, label in zip(chars[row, at], best[row, at]):
                tags[n][c] = labels[label]
            # characters of the window past its truncation point have no token but are not
            # bridged
            last = int(chars[row].max()) if at.any() else -1
            end = int(enc.extra["ends"][row])
            tags[n][last + 1:end] = ["O"] * (end - last - 1)
        return [spans_of(t) for t in tags]

    def new_example(self, text: str, lineno: int) -> Sentence:
        return Sentence(text, None, lineno)

    def explain(self, outputs: dict[str, np.ndarray], enc: Encoded,
                examples: Sequence[Sentence], labels: list[str],
                top_k: int = 1) -> list[dict[str, Any]]:
        """The entities of each text: type, ``start`` and ``end`` (inclusive character
        offsets, as CLUENER writes them) and their text."""
        found = self.decode(outputs, enc, examples, labels)
        return [entity_row(e, spans) for e, spans in zip(examples, found)]

    def score(self, predicted: Sequence[set[Entity]],
              examples: Sequence[Sentence]) -> dict[str, float]:
        table = entity_scores([set(e.entities) for e in examples], list(predicted))
        scores = {k: table["overall"][k] for k in ("f1", "precision", "recall")}
        scores.update({f"f1_{kind}": row["f1"] for kind, row in table.items()
                       if kind != "overall"})
        return scores

    def baseline(self, train: Sequence[Sentence], dev: Sequence[Sentence]) -> dict[str, float]:
        return self.score([set() for _ in dev], dev)  # every character O

    def write(self, predicted: Sequence[set[Entity]], examples: Sequence[Sentence],
              handle: IO[str]) -> None:
        for e, found in zip(examples, predicted):
            label: dict[str, dict[str, list[list[int]]]] = {}
            for kind, start, end in sorted(found, key=lambda x: (x[1], x[2], x[0])):
                label.setdefault(kind, {}).setdefault(e.text[start:end + 1], []).append(
                    [start, end])
            handle.write(json.dumps({"id": e.id, "label": label}, ensure_ascii=False) + "\n")


def windows(text: str, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` pieces of ``text`` of at most ``size`` characters that cover it, each
    cut after the last sentence end (。！？；!?;) in its second half where there is one."""
    out = []
    start = 0
    while len(text) - start > size:
        cut = max(text.rfind(p, start + size // 2, start + size) for p in SENTENCE_ENDS)
        end = cut + 1 if cut >= 0 else start + size
        out.append((start, end))
        start = end
    out.append((start, len(text)))
    return out


def entity_row(e: Sentence, found: set[Entity]) -> dict[str, Any]:
    """A sentence's id, text and entities as one JSON object (spans in text order)."""
    spans = [{"type": kind, "start": start, "end": end, "text": e.text[start:end + 1]}
             for kind, start, end in sorted(found, key=lambda x: (x[1], x[2], x[0]))]
    return {"id": e.id, "text": e.text, "entities": spans}


def entities_checked(label: object, text: str, path: str, lineno: int,
                     types: Sequence[str] | None = TYPES) -> frozenset[Entity]:
    """The entities of a ``label`` object, each checked against the text (and, unless
    ``types`` is None, of one of ``types``)."""
    try:
        found = entities(label)
    except (AttributeError, TypeError, ValueError):
        raise InputError(path, "field 'label' must map type -> {text: [[start, end], ...]}",
                         line=lineno) from None
    for kind, start, end in found:
        if types is not None and kind not in types:
            raise InputError(path, f"unknown entity type {kind!r} (known: {', '.join(types)})",
                             line=lineno)
        if not 0 <= start <= end < len(text):
            raise InputError(path, f"span [{start}, {end}] is outside the text", line=lineno)
    for kind, by_text in label.items():
        for word, spans in by_text.items():
            for start, end in spans:
                if text[start:end + 1] != word:
                    raise InputError(path, f"{kind} span [{start}, {end}] is "
                                     f"{text[start:end + 1]!r}, not {word!r}", line=lineno)
    return frozenset(found)
