"""CMRC 2018: span extraction over SQuAD-style JSON, scored by CMRC's own Chinese EM/F1.

A context longer than the model's input is cut into overlapping windows (``doc_stride``
tokens shared by neighbours); each window is trained to point at the answer, or at [CLS]
when the answer is not inside it.  Decoding takes, over all windows of a question, the span
with the highest start + end logit among those inside the context, with end >= start and
at most ``max_answer_len`` tokens, and maps it back to the context's characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from zhnlp.finetuning.scoring import CMRC_PUNCT, cmrc_em, cmrc_f1
from zhnlp.finetuning.tasks.base import Encoded, Ids, Task, error_near, get, json_document


class Question(NamedTuple):
    context: str
    question: str
    answers: tuple[str, ...] | None
    start: int | None  # character offset of the first answer, checked against the context
    id: str


# CMRC's own offsets are sometimes a character or two off (at most 2 in trial and dev)
OFFSET_SLACK = 20


def answer_start(context: str, text: str, start: int) -> int | None:
    """Where ``text`` really is: at ``start`` when it is there, else the occurrence nearest to
    ``start`` within ``OFFSET_SLACK`` characters; None when there is none."""
    if context[start:start + len(text)] == text:
        return start
    found = [m.start() for m in re.finditer(re.escape(text), context)
             if abs(m.start() - start) <= OFFSET_SLACK]
    return min(found, key=lambda s: abs(s - start)) if found else None


def _cut(tokenizer: Any, texts: list[str], max_tokens: int) -> tuple[list[str], int]:
    """``texts`` cut after their first ``max_tokens`` tokens, and the most tokens of one."""
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                    truncation=True, max_length=max_tokens)
    cut = [t[:o[-1][1]] if len(o) == max_tokens else t
           for t, o in zip(texts, enc["offset_mapping"])]
    return cut, max(map(len, enc["input_ids"]))


def best_span(start: np.ndarray, end: np.ndarray, allowed: np.ndarray,
              max_len: int) -> tuple[float, int, int]:
    """(score, i, j) of the best span i..j (j >= i, at most ``max_len`` tokens) with both ends
    in ``allowed``; score is -inf when there is none."""
    n = len(start)
    scores = start[:, None] + end[None, :]
    i, j = np.indices((n, n))
    ok = (j >= i) & (j - i < max_len) & allowed[:, None] & allowed[None, :]
    scores = np.where(ok, scores, -np.inf)
    flat = int(scores.argmax())
    return float(scores.flat[flat]), flat // n, flat % n


def _clauses(context: str) -> list[str]:
    return [c for c in re.split("[" + re.escape("".join(CMRC_PUNCT)) + r"\s]", context) if c]


class Cmrc2018(Task):
    name = "cmrc2018"
    head = "QuestionAnswering"
    metric = "f1"
    outputs = ("start_logits", "end_logits")
    per_token = True
    files = {"train": ("train.json", "cmrc2018_train.json", "cmrc2018_trial.json"),
             "dev": ("dev.json", "cmrc2018_dev.json"), "test": ("test.json",
                                                             "cmrc2018_test.json")}
    submission = "cmrc2018_predict.json"

    def __init__(self, doc_stride: int = 64, max_answer_len: int = 64) -> None:
        self.doc_stride = doc_stride
        self.max_answer_len = max_answer_len

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Question]:
        doc = json_document(path)
        out = []
        ids = Ids(path)
        for article in get(doc, "data", path, 1):
            for para in article.get("paragraphs", []) if isinstance(article, dict) else []:
                if not isinstance(para.get("context"), str) or "qas" not in para:
                    raise error_near(path, "a paragraph without 'context' or 'qas'",
                                     str(para.get("id")))
                context = para["context"]
                for qa in para["qas"]:
                    if "id" not in qa or "question" not in qa:
                        raise error_near(path, "a question without 'id' or 'question'",
                                         context[:30])
                    qid = str(ids.take(qa["id"], None))
                    answers, start = None, None
                    if labelled:
                        try:
                            answers = tuple(str(a["text"]) for a in qa["answers"])
                            first = int(qa["answers"][0]["answer_start"])
                        except (KeyError, TypeError, ValueError, IndexError):
                            raise error_near(path, f"{qid}: answers must be [{{\"text\": ..., "
                                             "\"answer_start\": ...}]", f'"{qid}"') from None
                        start = answer_start(context, answers[0], first)
                        if start is None:
                            raise error_near(path, f"{qid}: answer {answers[0]!r} is not at its "
                                             f"answer_start {first} (nor within "
                                             f"{OFFSET_SLACK} characters of it)", f'"{qid}"')
                    out.append(Question(context, str(qa["question"]), answers, start, qid))
        return out

    def texts(self, examples: Sequence[Question]) -> Iterator[str]:
        return (t for e in examples for t in (e.question, e.context))

    def encode(self, tokenizer: Any, examples: Sequence[Question], labels: list[str],
               max_len: int) -> Encoded:
        import torch

        # a question keeps at most half the window (as max_query_length does in BERT's SQuAD
        # code), so that every window has room for context and the stride fits in it
        questions, longest = _cut(tokenizer, [e.question for e in examples], max_len // 2)
        room = max_len - longest - 3
        enc = tokenizer(questions, [e.context for e in examples],
                        truncation="only_second", max_length=max_len,
                        stride=min(self.doc_stride, room // 2),
                        return_overflowing_tokens=True, return_offsets_mapping=True,
                        padding=True, return_tensors="np")
        example = np.asarray(enc.pop("overflow_to_sample_mapping"))
        offsets = np.asarray(enc.pop("offset_mapping"))
        in_context = np.array([[s == 1 for s in enc.sequence_ids(r)]
                               for r in range(len(example))])
        targets = {}
        if examples[0].answers is not None:
            starts = np.zeros(len(example), dtype=np.int64)
            ends = np.zeros(len(example), dtype=np.int64)
            for r, i in enumerate(example):
                e = examples[i]
                if e.start is None:
                    continue  # an answer missing from its context: trained as "not here"
                first, last = e.start, e.start + len(e.answers[0])
                tokens = np.flatnonzero(in_context[r])
                if offsets[r, tokens[0], 0] <= first and offsets[r, tokens[-1], 1] >= last:
                    starts[r] = tokens[offsets[r, tokens, 0] <= first][-1]
                    ends[r] = tokens[offsets[r, tokens, 1] >= last][0]
            targets = {"start_positions": torch.from_numpy(starts),
                       "end_positions": torch.from_numpy(ends)}
        inputs = {k: torch.from_numpy(np.asarray(v)) for k, v in enc.items()}
        return Encoded(inputs, targets, example, {"offsets": offsets, "in_context": in_context})

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Question], labels: list[str]) -> list[str]:
        best: dict[int, tuple[float, str]] = {}
        for r, i in enumerate(enc.example):
            score, a, b = best_span(outputs["start_logits"][r], outputs["end_logits"][r],
                                    enc.extra["in_context"][r], self.max_answer_len)
            if score > best.get(i, (-np.inf, ""))[0]:
                offsets = enc.extra["offsets"][r]
                best[i] = (score, examples[i].context[offsets[a, 0]:offsets[b, 1]])
        return [best.get(i, (0.0, ""))[1] for i in range(len(examples))]

    def score(self, predicted: Sequence[str], examples: Sequence[Question]) -> dict[str, float]:
        em = np.mean([cmrc_em(p, e.answers) for p, e in zip(predicted, examples)])
        f1 = np.mean([cmrc_f1(p, e.answers) for p, e in zip(predicted, examples)])
        return {"f1": float(f1), "em": float(em), "average": float((em + f1) / 2)}

    def baseline(self, train: Sequence[Question], dev: Sequence[Question]) -> dict[str, float]:
        """The clause of the context sharing most characters with the question."""
        guesses = [max(_clauses(e.context) or [""], key=lambda c, q=set(e.question):
                       len(q & set(c))) for e in dev]
        return self.score(guesses, dev)

    def write(self, predicted: Sequence[str], examples: Sequence[Question],
              handle: IO[str]) -> None:
        json.dump({e.id: p for e, p in zip(examples, predicted)}, handle, ensure_ascii=False,
                  indent=1)
        handle.write("\n")
