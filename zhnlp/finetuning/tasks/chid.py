"""CHID: idiom cloze.  Each blank is scored against each candidate idiom as a multiple
choice (the passage around the blank, with the blank as four [MASK], paired with the
candidate); when a passage group shares its candidates across several blanks, the idioms
are assigned jointly (one idiom per blank, none used twice: the assignment with the
highest total log-probability).

Two layouts are read: FewCLUE's (one ``#idiom#`` blank per line, ``candidates``,
``answer``, ``id``) and CLUE 1.1's (``content`` a list of passages with blanks named
``#idiom000123#``, ``candidates`` shared by the line, answers in ``<split>_answer.json``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from zhnlp.errors import InputError
from zhnlp.finetuning.tasks.base import Encoded, Ids, get, json_document, json_lines
from zhnlp.finetuning.tasks.choice import MultipleChoiceTask

BLANK = re.compile(r"#idiom(\d*)#")


class Blank(NamedTuple):
    left: str
    right: str
    candidates: tuple[str, ...]
    answer: int | None
    id: Any  # FewCLUE's line id, or CLUE's blank tag "#idiom000123#"
    group: int  # the line: its blanks share their candidates


def assign(scores: np.ndarray) -> np.ndarray:
    """The candidate of each blank (rows) maximising the total score with no candidate
    used twice; more blanks than candidates fall back to each blank's best."""
    from scipy.optimize import linear_sum_assignment

    if scores.shape[0] > scores.shape[1]:
        return scores.argmax(1)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return cols[np.argsort(rows)]


def _blanks(passage: str) -> Iterator[tuple[str, str, str]]:
    """(tag, left, right) of each blank, other blanks in the context shown as [UNK]."""
    for match in BLANK.finditer(passage):
        left = BLANK.sub("[UNK]", passage[:match.start()])
        right = BLANK.sub("[UNK]", passage[match.end():])
        yield match.group(0), left, right


class Chid(MultipleChoiceTask):
    name = "chid"
    files = {"train": ("train.json", "train_few_all.json"),
             "dev": ("dev.json", "dev_few_all.json"), "test": ("test1.1.json", "test.json")}
    submission = "chid11_predict.json"
    fewclue_submission = "chidf_predict.json"

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Blank]:
        answers = None
        out: list[Blank] = []
        ids = Ids(path)
        for lineno, obj in json_lines(path):
            candidates = get(obj, "candidates", path, lineno)
            content = get(obj, "content", path, lineno)
            if not isinstance(candidates, list) or not candidates:
                raise InputError(path, "field 'candidates' must be a list of idioms",
                                 line=lineno)
            candidates = tuple(map(str, candidates))
            if isinstance(content, str):  # FewCLUE: one blank, the answer on the line
                found = list(_blanks(content))
                if len(found) != 1:
                    raise InputError(path, f"{len(found)} #idiom# blanks (FewCLUE has one)",
                                     line=lineno)
                answer = None
                if labelled:
                    answer = get(obj, "answer", path, lineno)
                    if not isinstance(answer, int) or not 0 <= answer < len(candidates):
                        raise InputError(path, f"answer {answer!r} is not an index of the "
                                         f"{len(candidates)} candidates", line=lineno)
                _, left, right = found[0]
                out.append(Blank(left, right, candidates, answer,
                                 ids.take(obj.get("id", lineno - 1), lineno), lineno))
                continue
            if labelled and answers is None:
                answers = _answer_file(path)
            for passage in content:
                for tag, left, right in _blanks(str(passage)):
                    answer = None
                    if labelled:
                        if tag not in answers:
                            raise InputError(path, f"no answer for {tag} in the answer file",
                                             line=lineno)
                        answer = int(answers[tag])
                    out.append(Blank(left, right, candidates, answer, tag, lineno))
        return out

    def texts(self, examples: Sequence[Blank]) -> Iterator[str]:
        return (t for e in examples for t in (e.left, e.right, *e.candidates))

    def pairs(self, tokenizer: Any, examples: Sequence[Blank], max_len: int,
              ) -> tuple[list[str], list[Sequence[str]]]:
        # about as many characters as tokens fit, half on each side of the blank
        side = max(8, (max_len - 4 - 8) // 2)
        return ([e.left[-side:] + tokenizer.mask_token * 4 + e.right[:side] for e in examples],
                [e.candidates for e in examples])

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Blank], labels: list[str]) -> list[int]:
        logits = np.where(enc.extra["valid"], outputs["logits"], -np.inf)
        shifted = logits - logits.max(1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        logp = np.where(enc.extra["valid"], logp, -1e9)  # finite, for the assignment
        groups = np.array([e.group for e in examples])
        out = np.zeros(len(examples), dtype=np.int64)
        for g in np.unique(groups):
            rows = np.flatnonzero(groups == g)
            out[rows] = assign(logp[rows])
        return out.tolist()

    def baseline(self, train: Sequence[Blank], dev: Sequence[Blank]) -> dict[str, float]:
        # chance: the expected accuracy of a uniform guess among each blank's candidates
        return {"accuracy": float(np.mean([1 / len(e.candidates) for e in dev]))}

    def write(self, predicted: Sequence[int], examples: Sequence[Blank],
              handle: IO[str]) -> None:
        if isinstance(examples[0].id, str) and BLANK.fullmatch(examples[0].id):
            json.dump({e.id: int(p) for e, p in zip(examples, predicted)}, handle, indent=1)
            handle.write("\n")
            return
        for e, p in zip(examples, predicted):
            handle.write(json.dumps({"id": e.id, "answer": int(p)}) + "\n")


def _answer_file(path: str) -> dict[str, int]:
    """CLUE's answers beside ``path``: ``train.json`` -> ``train_answer.json``."""
    stem, ext = os.path.splitext(path)
    answers = stem + "_answer" + ext
    if not os.path.exists(answers):
        raise InputError(path, f"CLUE-layout CHID needs its answers in {answers}")
    data = json_document(answers)
    if not isinstance(data, dict):
        raise InputError(answers, "not a {\"#idiom...#\": index} object")
    return data
