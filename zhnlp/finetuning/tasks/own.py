"""Fine-tuning on a user's own labelled data: text classification (one label an example, or
several: ``multi_label``) from CSV, TSV or JSON lines.

A table is read by its suffix: ``.csv`` (comma-separated), ``.tsv`` / ``.txt`` (tab-separated),
``.jsonl`` / ``.json`` (one JSON object a line).  Fields are named by the header (CSV/TSV) or
the keys (JSON); in a headerless CSV/TSV every field is given as a column number from 0
(``--text-field 1 --label-field 0`` for THUCNews' ``label<TAB>title`` lines).  The labels are
those of the training file, sorted; they are saved with the model (``id2label``), and a dev
label the training file lacks is an error naming its line.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.finetuning.tasks.base import Encoded, Ids, json_lines
from zhnlp.finetuning.tasks.classification import (
    ClassificationTask,
    Example,
    example_texts,
    ranked,
)
from zhnlp.io import open_file

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")
# what predict --input reads as a table; anything else (.txt included) is plain text, a line
# an input
TABLES = (".csv", ".tsv", ".jsonl", ".json")


def _delimiter(path: str) -> str | None:
    """The field separator of a table file, None for JSON lines."""
    if path.endswith((".jsonl", ".json")):
        return None
    if path.endswith(".csv"):
        return ","
    if path.endswith((".tsv", ".txt")):
        return "\t"
    raise InputError(path, f"unknown table format (the name must end in {', '.join(SUFFIXES)})")


def read_table(path: str, fields: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, {field: text}) for each record of a CSV, TSV or JSON-lines file; a missing
    field names the fields found, a row with another number of fields than the header names
    its line."""
    delimiter = _delimiter(path)
    if delimiter is None:
        for lineno, obj in json_lines(path):
            missing = [f for f in fields if f not in obj]
            if missing:
                raise InputError(path, f"no field {missing[0]!r} (fields: "
                                 f"{', '.join(map(str, obj))})", line=lineno)
            yield lineno, {f: "" if obj[f] is None else str(obj[f]) for f in fields}
        return
    positional = all(f.isdigit() for f in fields)
    with open_file(path) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""),
                            delimiter=delimiter)
        try:
            header = None if positional else next(reader, None)
            if header is not None:
                missing = [f for f in fields if f not in header]
                if missing:
                    raise InputError(path, f"no column {missing[0]!r} (columns: "
                                     f"{', '.join(header)})", line=1)
                where = {f: header.index(f) for f in fields}
            else:
                where = {f: int(f) for f in fields}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if (header is not None and len(row) != len(header)) or \
                        len(row) <= max(where.values()):
                    expected = len(header) if header is not None else max(where.values()) + 1
                    raise InputError(path, f"{len(row)} fields, {expected} expected",
                                     line=reader.line_num)
                yield reader.line_num, {f: row[i] for f, i in where.items()}
        except UnicodeDecodeError:
            raise InputError(path, "not valid UTF-8 text; convert the file with iconv",
                             line=reader.line_num + 1) from None
        except csv.Error as exc:
            raise InputError(path, f"malformed {'CSV' if delimiter == ',' else 'TSV'} "
                             f"({exc})", line=reader.line_num + 1) from None


class GivenFiles:
    """Files named on the command line (``--train``, ``--dev``, ``--test``), else found in
    the data folder under ``SPLIT.SUFFIX``."""

    files: dict[str, tuple[str, ...]]

    def given_files(self, suffixes: Sequence[str], train: str | None, dev: str | None,
                    test: str | None) -> None:
        self.files = {s: tuple(f"{s}{x}" for x in suffixes) for s in ("train", "dev", "test")}
        self.given = {"train": train, "dev": dev, "test": test}

    def find(self, data: str | None, split: str) -> list[str]:
        if self.given[split]:
            return [self.given[split]]  # type: ignore[list-item]
        if data is None:
            raise InputError(f"--{split}", "no file: give --data DIR or the file itself")
        return super().find(data, split)  # type: ignore[misc]


class TextClassification(GivenFiles, ClassificationTask):
    """Classification of a text (or a pair of texts) from the user's files: one label each,
    or with ``multi_label`` (a separator, such as ``|``) any number of labels each, scored by
    micro- and macro-averaged F1."""

    labels_in_model = True
    input_suffixes = TABLES

    def __init__(self, text_field: str = "text", text_pair_field: str | None = None,
                 label_field: str = "label", multi_label: str | None = None,
                 train: str | None = None, dev: str | None = None,
                 test: str | None = None) -> None:
        ClassificationTask.__init__(self, "text-classification", (),
                                    text=None,  # type: ignore[arg-type]
                                    submission="predictions.jsonl",
                                    pairs=text_pair_field is not None)
        if multi_label == "":
            raise ZhnlpError("multi_label: the separator of the labels is empty")
        self.given_files(SUFFIXES, train, dev, test)
        self.text_field, self.text_pair_field = text_field, text_pair_field
        self.label_field = label_field
        self.multi_label = multi_label
        self.metric = "micro_f1" if multi_label else "accuracy"

    def _label_of(self, raw: str, path: str, lineno: int) -> str | tuple[str, ...]:
        """A record's label, or its labels in file order (multi-label; none is allowed)."""
        if self.multi_label:
            return tuple(dict.fromkeys(p.strip() for p in raw.split(self.multi_label)
                                       if p.strip()))
        if not raw.strip():
            raise InputError(path, f"empty label in field {self.label_field!r}", line=lineno)
        return raw.strip()

    def labels(self, data: str | None) -> list[str]:
        (path,) = self.find(data, "train")
        found: set[str] = set()
        for lineno, row in read_table(path, [self.label_field]):
            label = self._label_of(row[self.label_field], path, lineno)
            found.update(label if isinstance(label, tuple) else (label,))
        if not found:
            raise InputError(path, "no labels in the training file")
        return sorted(found)

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Example]:
        fields = [self.text_field] + ([self.text_pair_field] if self.text_pair_field else [])
        known = set(labels)
        ids = Ids(path)
        out = []
        for lineno, row in read_table(path, fields + ([self.label_field] if labelled else [])):
            for f in fields:
                if not row[f].strip():
                    raise InputError(path, f"empty text in field {f!r}", line=lineno)
            label = None
            if labelled:
                label = self._label_of(row[self.label_field], path, lineno)
                for one in label if isinstance(label, tuple) else (label,):
                    if one not in known:
                        raise InputError(path, f"label {one!r} is not in the training file "
                                         f"(labels: {', '.join(labels)})", line=lineno)
            out.append(Example(row[fields[0]], row[fields[1]] if len(fields) > 1 else None,
                               label, ids.take(lineno, lineno)))
        return out

    def targets(self, examples: Sequence[Example], labels: list[str]) -> Any:
        if not self.multi_label:
            return super().targets(examples, labels)
        import torch

        index = {label: i for i, label in enumerate(labels)}
        hot = torch.zeros(len(examples), len(labels))  # float: transformers' BCE target
        for row, e in enumerate(examples):
            hot[row, [index[label] for label in e.label]] = 1.0
        return hot

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Example], labels: list[str]) -> list[Any]:
        if not self.multi_label:
            return super().decode(outputs, enc, examples, labels)
        # a label applies where its sigmoid passes one half: where its logit passes 0
        return [tuple(labels[i] for i in np.flatnonzero(row > 0)) for row in outputs["logits"]]

    def score(self, predicted: Sequence[Any], examples: Sequence[Example]) -> dict[str, float]:
        """Single-label: accuracy, macro-F1 and each label's F1 (imbalanced classes show
        there); multi-label: micro- and macro-F1, exact-match accuracy, each label's F1."""
        if self.multi_label:
            gold = [set(e.label) for e in examples]
            guessed = [set(p) for p in predicted]
        else:
            gold = [{e.label} for e in examples]
            guessed = [{p} for p in predicted]
        counts = label_counts(gold, guessed)
        f1 = {label: _f1(*c) for label, c in sorted(counts.items())}
        scores = {"macro_f1": sum(f1.values()) / len(f1) if f1 else 0.0}
        if self.multi_label:
            tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
            scores = {"micro_f1": _f1(tp, fp, fn), **scores,
                      "exact_match": sum(g == p for g, p in zip(gold, guessed)) / len(gold)}
        else:
            scores = {"accuracy": super().score(predicted, examples)["accuracy"], **scores}
        scores.update({f"f1_{label}": value for label, value in f1.items()})
        return scores

    def describe(self, train: Sequence[Example]) -> str:
        if not self.multi_label:
            return super().describe(train)
        counts = Counter(label for e in train for label in e.label).most_common()
        per = sum(len(e.label) for e in train) / len(train)
        return (", ".join(f"{label} {n}" for label, n in counts)
                + f" (most/least frequent: {counts[0][1] / counts[-1][1]:.1f}x; "
                f"{per:.2f} labels an example)")

    def explain(self, outputs: dict[str, np.ndarray], enc: Encoded,
                examples: Sequence[Example], labels: list[str],
                top_k: int = 1) -> list[dict[str, Any]]:
        """Multi-label: each label whose probability (its sigmoid) is at least one half,
        with the probabilities, and the ``top_k`` most probable for ``top_k`` > 1."""
        if not self.multi_label:
            return super().explain(outputs, enc, examples, labels, top_k)
        probs = 1 / (1 + np.exp(-outputs["logits"]))
        rows = []
        for e, p in zip(examples, probs):
            on = np.flatnonzero(p >= 0.5)
            row = {**example_texts(e), "labels": [labels[i] for i in on],
                   "probabilities": [round(float(p[i]), 6) for i in on]}
            if top_k > 1:
                row["top_k"] = ranked(labels, p, np.argsort(-p, kind="stable")[:top_k])
            rows.append(row)
        return rows

    def write(self, predicted: Sequence[Any], examples: Sequence[Example],
              handle: IO[str]) -> None:
        key = "labels" if self.multi_label else "label"
        for e, label in zip(examples, predicted):
            value = list(label) if self.multi_label else label
            handle.write(json.dumps({"line": e.id, "text": e.a, key: value},
                                    ensure_ascii=False) + "\n")


def label_counts(gold: Sequence[set[str]], predicted: Sequence[set[str]],
                 ) -> dict[str, tuple[int, int, int]]:
    """(true positives, false positives, false negatives) of each label seen in ``gold`` or
    ``predicted`` (one set of labels per example)."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, predicted):
        for label in g | p:
            c = counts.setdefault(label, [0, 0, 0])
            c[0 if label in g and label in p else 1 if label in p else 2] += 1
    return {label: (c[0], c[1], c[2]) for label, c in counts.items()}


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
