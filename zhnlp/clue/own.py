"""Fine-tuning on a user's own labelled data: text classification from CSV, TSV or JSON lines.

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
from collections.abc import Iterator, Sequence
from typing import IO

from zhnlp.clue.base import Ids, json_lines
from zhnlp.clue.classification import ClassificationTask, Example
from zhnlp.errors import InputError
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
    """Single-label classification of a text (or a pair of texts) from the user's files."""

    labels_in_model = True

    def __init__(self, text_field: str = "text", text_pair_field: str | None = None,
                 label_field: str = "label", train: str | None = None, dev: str | None = None,
                 test: str | None = None) -> None:
        ClassificationTask.__init__(self, "text-classification", (),
                                    text=None,  # type: ignore[arg-type]
                                    submission="predictions.jsonl")
        self.given_files(SUFFIXES, train, dev, test)
        self.text_field, self.text_pair_field = text_field, text_pair_field
        self.label_field = label_field

    def labels(self, data: str | None) -> list[str]:
        (path,) = self.find(data, "train")
        return sorted({row[self.label_field].strip()
                       for _, row in read_table(path, [self.label_field])})

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
                label = row[self.label_field].strip()
                if label not in known:
                    raise InputError(path, f"label {label!r} is not in the training file "
                                     f"(labels: {', '.join(labels)})", line=lineno)
            out.append(Example(row[fields[0]], row[fields[1]] if len(fields) > 1 else None,
                               label, ids.take(lineno, lineno)))
        return out

    def score(self, predicted: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
        """Accuracy, macro-F1 and each label's F1 (imbalanced classes show there)."""
        gold, predicted = [e.label for e in examples], list(predicted)
        f1 = {}
        for label in sorted(set(gold) | set(predicted)):
            tp = sum(p == g == label for p, g in zip(predicted, gold))
            guessed, true = predicted.count(label), gold.count(label)
            f1[label] = 2 * tp / (guessed + true) if guessed + true else 0.0
        scores = {"accuracy": super().score(predicted, examples)["accuracy"],
                  "macro_f1": sum(f1.values()) / len(f1)}
        scores.update({f"f1_{label}": value for label, value in f1.items()})
        return scores

    def write(self, predicted: Sequence[str], examples: Sequence[Example],
              handle: IO[str]) -> None:
        for e, label in zip(examples, predicted):
            handle.write(json.dumps({"line": e.id, "text": e.a, "label": label},
                                    ensure_ascii=False) + "\n")
