"""C3: multiple-choice reading comprehension over dialogues and texts (2 to 4 options).

Each option is read as (context, question + option); questions with fewer than four
options are padded with empty options that the loss and the decoding never choose.  The
data comes in two halves (``d-`` dialogues, ``m-`` mixed texts), read together.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO, Any, NamedTuple

from zhnlp.errors import InputError
from zhnlp.finetuning.tasks.base import error_near, json_document
from zhnlp.finetuning.tasks.choice import MultipleChoiceTask

N_CHOICES = 4


class Question(NamedTuple):
    context: str
    question: str
    options: tuple[str, ...]
    answer: int | None
    id: Any


class C3(MultipleChoiceTask):
    name = "c3"
    n_choices = N_CHOICES  # every question padded to four options, as C3's baselines read it
    files = {"train": ("d-train.json", "m-train.json", "c3-d-train.json", "c3-m-train.json"),
             "dev": ("d-dev.json", "m-dev.json", "c3-d-dev.json", "c3-m-dev.json"),
             "test": ("test1.1.json", "test.json")}
    submission = "c311_predict.json"

    def find(self, data: str, split: str) -> list[str]:
        if split == "test":
            return super().find(data, split)
        found = [os.path.join(data, n) for n in self.files[split]
                 if os.path.exists(os.path.join(data, n))]
        if not found:
            raise InputError(data, f"no {split} file: none of "
                             f"{', '.join(self.files[split])} here")
        return found

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Question]:
        doc = json_document(path)
        if not isinstance(doc, list):
            raise InputError(path, "not a C3 file (a list of [context, questions, id])", line=1)
        out = []
        for item in doc:
            if not (isinstance(item, list) and len(item) >= 2 and isinstance(item[0], list)
                    and isinstance(item[1], list)):
                raise error_near(path, "not a [context, questions, id] item", str(item)[:20])
            context = "\n".join(map(str, item[0]))
            near = json.dumps(item[-1], ensure_ascii=False)
            for q in item[1]:
                try:
                    options = tuple(map(str, q["choice"]))
                    question = str(q["question"])
                except (KeyError, TypeError):
                    raise error_near(path, "a question without 'question' or 'choice'",
                                     near) from None
                if not 1 <= len(options) <= N_CHOICES:
                    raise error_near(path, f"{len(options)} options (1 to {N_CHOICES} "
                                     "allowed)", near)
                answer = None
                if labelled:
                    if q.get("answer") not in options:
                        raise error_near(path, f"answer {q.get('answer')!r} is not one of the "
                                         f"options {', '.join(options)}", near)
                    answer = options.index(q["answer"])
                out.append(Question(context, question, options, answer, q.get("id", len(out))))
        return out

    def texts(self, examples: Sequence[Question]) -> Iterator[str]:
        return (t for e in examples for t in (e.context, e.question, *e.options))

    def pairs(self, tokenizer: Any, examples: Sequence[Question], max_len: int,
              ) -> tuple[list[str], list[Sequence[str]]]:
        return ([e.context for e in examples],
                [[f"{e.question}{o}" for o in e.options] for e in examples])

    def baseline(self, train: Sequence[Question], dev: Sequence[Question]) -> dict[str, float]:
        position = Counter(e.answer for e in train).most_common(1)[0][0]
        return self.score([min(position, len(e.options) - 1) for e in dev], dev)

    def write(self, predicted: Sequence[int], examples: Sequence[Question],
              handle: IO[str]) -> None:
        for e, answer in zip(examples, predicted):
            handle.write(json.dumps({"id": e.id, "label": int(answer)}) + "\n")
