"""What every CLUE task adapter provides, and the pieces they share.

A task turns its official files into examples (``read``), examples into model inputs
(``encode``: an :class:`Encoded` batch of tensors with one row per model input, several rows
per example where a context is cut into windows), model outputs back into one prediction per
example (``decode``), predictions into its official metric (``score``) and into its
submission file (``write``).  The fine-tuning loop in :mod:`zhnlp.finetuning.loop` knows
nothing else about a task.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.io import open_file

SPLITS = ("train", "dev", "test")


@dataclass
class Encoded:
    """Model inputs for a list of examples.

    ``inputs`` and ``targets`` hold tensors whose first dimension is the row; ``example`` maps
    each row to the index of its example; ``extra`` keeps what decoding needs (offsets, ...).
    """

    inputs: dict[str, Any]
    targets: dict[str, Any]
    example: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.example)


class Task:
    """Base of the task adapters; subclasses set the class attributes and the methods."""

    name: str = ""
    # the transformers head: AutoModelFor<head> / ElectraFor<head>
    head: str = "SequenceClassification"
    metric: str = "accuracy"  # the score that picks the best epoch
    # the model outputs decode() reads, and whether they carry a position axis
    outputs: tuple[str, ...] = ("logits",)
    per_token: bool = False
    files: dict[str, tuple[str, ...]] = {}
    # submission file name on the CLUE 1.1 and on the FewCLUE leaderboard
    submission: str = ""
    fewclue_submission: str = ""
    # the labels are learned from the training file, and a fine-tuned model carries them
    labels_in_model: bool = False
    # files ``predict --input`` reads with ``read`` (any other: plain text, a line an input)
    input_suffixes: tuple[str, ...] = (".json", ".jsonl")

    def labels(self, data: str) -> list[str]:
        """The label names (classification and tagging heads); empty for the others."""
        return []

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Any]:
        """The examples of one official file; bad lines raise :class:`InputError` with the
        file and line, unknown labels with the list of the known ones."""
        raise NotImplementedError

    def texts(self, examples: Sequence[Any]) -> Iterator[str]:
        """The text of the examples, to learn a tokenizer from when the model is random."""
        raise NotImplementedError

    def encode(self, tokenizer: Any, examples: Sequence[Any], labels: list[str],
               max_len: int) -> Encoded:
        """Model inputs (and, for labelled examples, targets) of ``max_len`` tokens at most."""
        raise NotImplementedError

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Any], labels: list[str]) -> list[Any]:
        """One prediction per example from the model outputs of every row of ``enc``."""
        raise NotImplementedError

    def score(self, predicted: Sequence[Any], examples: Sequence[Any]) -> dict[str, float]:
        """The task's official metric(s), ``metric`` among them."""
        raise NotImplementedError

    def baseline(self, train: Sequence[Any], dev: Sequence[Any]) -> dict[str, float]:
        """The score of the obvious trivial answer (majority class, all ``O``, ...)."""
        raise NotImplementedError

    def write(self, predicted: Sequence[Any], examples: Sequence[Any], handle: IO[str]) -> None:
        """The submission file, in the leaderboard's format."""
        raise NotImplementedError

    def new_example(self, text: str, lineno: int) -> Any:
        """An unlabelled example of one line of new text (``predict --input``)."""
        raise ZhnlpError(f"task {self.name!r} does not label lines of plain text; give "
                         f"--input as a file in its format ({', '.join(self.input_suffixes)})")

    def explain(self, outputs: dict[str, np.ndarray], enc: Encoded, examples: Sequence[Any],
                labels: list[str], top_k: int = 1) -> list[dict[str, Any]]:
        """One JSON object per example of new text: its id, text and what the model found
        (with probabilities where the task has them; the ``top_k`` best where it ranks)."""
        raise ZhnlpError(f"task {self.name!r} does not label new text (--input); use "
                         "--task with its files")

    def describe(self, train: Sequence[Any]) -> str:
        """A line about the training data for the run's summary (empty: nothing to say)."""
        return ""

    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        """The training loss of a batch of inputs and targets (default: the model's own)."""
        return model(**batch).loss

    # State a task trains beside the transformers model (CLUENER's CRF): created per run,
    # trained with the head's learning rate, saved next to the checkpoint.
    def start(self, model: Any) -> list[Any]:
        """Fresh extra state for a run on ``model``; returns its trainable parameters."""
        return []

    def save_extra(self, path: str) -> None:
        """Write the extra state into the checkpoint directory ``path``."""

    def load_extra(self, path: str) -> None:
        """Read the extra state of the checkpoint directory ``path``, where it has some."""

    def find(self, data: str, split: str) -> list[str]:
        """The file(s) of ``split`` in ``data``: the first of the task's names present."""
        names = self.files[split]
        for name in names:
            if os.path.exists(os.path.join(data, name)):
                return [os.path.join(data, name)]
        raise InputError(data, f"no {split} file: none of {', '.join(names)} here")

    def load(self, data: str, split: str, labels: list[str], *, labelled: bool = True,
             ) -> list[Any]:
        """The examples of ``split`` (all its files, in order); a file with none is an error."""
        out: list[Any] = []
        for path in self.find(data, split):
            examples = self.read(path, labels, labelled=labelled)
            if not examples:
                raise InputError(path, "no examples")
            out += examples
        return out

    def submission_name(self, data: str | None) -> str:
        """FewCLUE's name when ``data`` holds FewCLUE's splits, else CLUE 1.1's."""
        few = data is not None and any(os.path.exists(os.path.join(data, f"{s}_few_all.json"))
                                       for s in ("train", "dev"))
        return self.fewclue_submission if few and self.fewclue_submission else self.submission


def text_line(raw: bytes, path: str, lineno: int) -> str:
    """One line as UTF-8 (a BOM on the first line allowed), or an error naming it."""
    if b"\x00" in raw:
        raise InputError(path, "not a text file (NUL byte)", line=lineno)
    try:
        return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not valid UTF-8 text ({exc.reason} at byte {exc.start} of the "
                         "line); convert the file with iconv", line=lineno) from None


def json_lines(path: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file."""
    with open_file(path) as handle:
        for lineno, raw in enumerate(handle, 1):
            line = text_line(raw, path, lineno)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not a JSON object ({exc.msg})", line=lineno) from None
            if not isinstance(obj, dict):
                raise InputError(path, f"not a JSON object (a JSON {type(obj).__name__})",
                                 line=lineno)
            yield lineno, obj


def json_document(path: str) -> Any:
    """A whole-file JSON document (CMRC, C3), with the line of a syntax error."""
    with open_file(path) as handle:
        text = "".join(text_line(raw, path, n) for n, raw in enumerate(handle, 1))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None


class Ids:
    """The example ids of one file: a number or a string each, no two alike (a submission
    keyed by them would be ambiguous)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: dict[Any, int | None] = {}

    def take(self, value: Any, lineno: int | None) -> Any:
        """``value`` checked and recorded; an error naming the file and line otherwise."""
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InputError(self.path, f"id {json.dumps(value)} is not a number or a string",
                             line=lineno)
        if value in self.seen:
            first = self.seen[value]
            raise InputError(self.path, f"duplicate id {value!r}"
                             + (f" (first on line {first})" if first else ""), line=lineno)
        self.seen[value] = lineno
        return value


def get(obj: dict, key: str, path: str, lineno: int | None) -> Any:
    """``obj[key]``, or an error naming the file and line."""
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(path, f"missing field {key!r}", line=lineno)
    return obj[key]


def error_near(path: str, message: str, near: str) -> InputError:
    """An error in a whole-file JSON document (CMRC, C3) at the line where ``near`` (an id,
    the start of a text) first appears; the file is read again for it only on error."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    at = text.find(near)
    return InputError(path, message, line=text.count("\n", 0, at) + 1 if at >= 0 else None)


def accuracy(predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)

