"""The sentence and sentence-pair classification tasks of CLUE and FewCLUE, one entry each.

Each task says how a JSON line of its official files becomes (text A, text B, label), which
labels exist, and what its submission file is called; the metric is accuracy.  Readers
reject a malformed line with the file and line number, and an unknown label with the list
of the known ones.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.finetuning.tasks.base import Encoded, Ids, Task, accuracy, get, json_lines


class Example(NamedTuple):
    a: str
    b: str | None
    label: str | None
    id: Any


def mark_wsc(text: str, span1: int, word1: str, span2: int, word2: str) -> str:
    """CLUEWSC2020: the noun in ``[...]`` and the pronoun in ``<...>``, offsets kept right
    (the later span is marked first, so the earlier offset still holds)."""
    spans = sorted([(span1, word1, "[", "]"), (span2, word2, "<", ">")], reverse=True)
    for start, word, left, right in spans:
        if text[start:start + len(word)] != word:
            raise ValueError(f"span {word!r} is not at offset {start}")
        text = text[:start] + left + word + right + text[start + len(word):]
    return text


Reader = Callable[[dict, str, int], tuple[str, str | None]]


def _single(key: str) -> Reader:
    return lambda o, p, n: (str(get(o, key, p, n)), None)


def _pair(a: str, b: str) -> Reader:
    return lambda o, p, n: (str(get(o, a, p, n)), str(get(o, b, p, n)))


def _csl(o: dict, p: str, n: int) -> tuple[str, str | None]:
    keywords = get(o, "keyword", p, n)
    if not isinstance(keywords, list):
        raise InputError(p, "field 'keyword' must be a list", line=n)
    return "，".join(map(str, keywords)), str(get(o, "abst", p, n))


def _wsc(o: dict, p: str, n: int) -> tuple[str, str | None]:
    target = get(o, "target", p, n)
    try:
        return mark_wsc(str(get(o, "text", p, n)), int(target["span1_index"]),
                        target["span1_text"], int(target["span2_index"]),
                        target["span2_text"]), None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(p, f"bad target: {exc}", line=n) from None


class ClassificationTask(Task):
    """One classification task: its reader, labels and submission files."""

    files = {"train": ("train.json", "train_few_all.json"),
             "dev": ("dev.json", "dev_few_all.json"), "test": ("test.json",)}

    def __init__(self, name: str, labels: tuple[str, ...], text: Reader, submission: str,
                 fewclue_submission: str = "", *, skip_labels: tuple[str, ...] = (),
                 labels_file: str | None = None, pairs: bool = False,
                 files: dict[str, tuple[str, ...]] | None = None) -> None:
        self.files = files or ClassificationTask.files
        self.pairs = pairs  # each example is two texts
        self.name = name
        self.known_labels = labels
        self.text = text
        self.submission = submission
        self.fewclue_submission = fewclue_submission
        self.skip_labels = skip_labels
        self.labels_file = labels_file  # a file in the data directory listing the labels

    def labels(self, data: str) -> list[str]:
        if self.labels_file and os.path.exists(os.path.join(data, self.labels_file)):
            with open(os.path.join(data, self.labels_file), encoding="utf-8") as handle:
                return [line.strip() for line in handle if line.strip()]
        return list(self.known_labels)

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Example]:
        """Examples of a JSON-lines file; ``labelled`` files must carry known labels."""
        known = set(labels)
        out: list[Example] = []
        ids = Ids(path)
        for lineno, obj in json_lines(path):
            a, b = self.text(obj, path, lineno)
            ident = ids.take(obj.get("id", obj.get("idx", lineno - 1)), lineno)
            label = None
            if labelled:
                label = str(get(obj, "label", path, lineno))
                if label in self.skip_labels:
                    continue
                if label not in known:
                    raise InputError(path, f"unknown label {label!r} (known: "
                                     f"{', '.join(labels)})", line=lineno)
            out.append(Example(a, b, label, ident))
        return out

    def texts(self, examples: Sequence[Example]) -> Iterator[str]:
        return (t for e in examples for t in (e.a, e.b) if t)

    def encode(self, tokenizer: Any, examples: Sequence[Example], labels: list[str],
               max_len: int) -> Encoded:
        pairs = examples[0].b is not None
        enc = tokenizer([e.a for e in examples], [e.b for e in examples] if pairs else None,
                        truncation=True, max_length=max_len, padding=True,
                        return_tensors="pt")
        targets = {}
        if examples[0].label is not None:
            targets["labels"] = self.targets(examples, labels)
        return Encoded(dict(enc), targets, np.arange(len(examples)))

    def targets(self, examples: Sequence[Example], labels: list[str]) -> Any:
        """The training targets of labelled examples: each label's index."""
        import torch

        index = {label: i for i, label in enumerate(labels)}
        return torch.tensor([index[e.label] for e in examples])

    def decode(self, outputs: dict[str, np.ndarray], enc: Encoded,
               examples: Sequence[Example], labels: list[str]) -> list[str]:
        return [labels[i] for i in outputs["logits"].argmax(-1)]

    def score(self, predicted: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
        return {"accuracy": accuracy(predicted, [e.label for e in examples])}

    def baseline(self, train: Sequence[Example], dev: Sequence[Example]) -> dict[str, float]:
        # the most frequent label (a multi-label task's most frequent set of labels)
        majority = Counter(e.label for e in train).most_common(1)[0][0]
        return self.score([majority] * len(dev), dev)

    def write(self, predicted: Sequence[str], examples: Sequence[Example],
              handle: IO[str]) -> None:
        for e, label in zip(examples, predicted):
            handle.write(json.dumps({"id": e.id, "label": label}, ensure_ascii=False) + "\n")

    def new_example(self, text: str, lineno: int) -> Example:
        if self.pairs:
            raise ZhnlpError(f"task {self.name!r} classifies pairs of texts; give --input as a "
                             f"file with both ({', '.join(self.input_suffixes)})")
        return Example(text, None, None, lineno)

    def explain(self, outputs: dict[str, np.ndarray], enc: Encoded,
                examples: Sequence[Example], labels: list[str],
                top_k: int = 1) -> list[dict[str, Any]]:
        """The label, its probability (softmax) and, for ``top_k`` > 1, the best ``top_k``."""
        logits = outputs["logits"]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        rows = []
        for e, p in zip(examples, probs):
            order = np.argsort(-p, kind="stable")[:top_k]
            row = {**example_texts(e), "label": labels[order[0]],
                   "probability": round(float(p[order[0]]), 6)}
            if top_k > 1:
                row["top_k"] = ranked(labels, p, order)
            rows.append(row)
        return rows

    def describe(self, train: Sequence[Example]) -> str:
        """The training labels with their counts, most frequent first, and the imbalance."""
        counts = Counter(e.label for e in train).most_common()
        return (", ".join(f"{label} {n}" for label, n in counts)
                + f" (most/least frequent: {counts[0][1] / counts[-1][1]:.1f}x)")


def ranked(labels: list[str], probs: np.ndarray, order: Iterable[int]) -> list[dict[str, Any]]:
    """The labels at ``order`` with their probabilities, as ``top_k`` lists them."""
    return [{"label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]


def example_texts(e: Example) -> dict[str, Any]:
    """The id and text(s) of an example, as a labelled line starts."""
    return {"id": e.id, "text": e.a, **({"text_pair": e.b} if e.b is not None else {})}


_NLI = ("entailment", "neutral", "contradiction")
TASKS = [
    ClassificationTask("tnews", tuple(str(i) for i in range(100, 117) if i not in (105, 111)),
                       _single("sentence"), "tnews11_predict.json", "tnewsf_predict.json"),
    ClassificationTask("iflytek", tuple(str(i) for i in range(119)), _single("sentence"),
                       "iflytek_predict.json", "iflytekf_predict.json"),
    ClassificationTask("afqmc", ("0", "1"), _pair("sentence1", "sentence2"),
                       "afqmc_predict.json", pairs=True),
    # OCNLI's own release names its training sets by size (the first one present is used)
    ClassificationTask("ocnli", _NLI, _pair("sentence1", "sentence2"), "ocnli_50k_predict.json",
                       "ocnlif_predict.json", skip_labels=("-",), pairs=True,
                       files={"train": ("train.json", "train.50k.json", "train.10k.json",
                                        "train.3k.json", "train_few_all.json"),
                              "dev": ("dev.json", "dev_few_all.json"),
                              "test": ("test.json", "test.50k.json")}),
    ClassificationTask("cmnli", _NLI, _pair("sentence1", "sentence2"), "cmnli_predict.json",
                       skip_labels=("-",), pairs=True),
    ClassificationTask("csl", ("0", "1"), _csl, "csl_predict.json", "cslf_predict.json",
                       pairs=True),
    ClassificationTask("cluewsc", ("true", "false"), _wsc, "cluewsc11_predict.json",
                       "cluewscf_predict.json"),
    ClassificationTask("bustm", ("0", "1"), _pair("sentence1", "sentence2"),
                       "bustm_predict.json", "bustm_predict.json", pairs=True),
    ClassificationTask("eprstmt", ("Positive", "Negative"), _single("sentence"),
                       "eprstmt_predict.json", "eprstmt_predict.json"),
    ClassificationTask("csldcp", (), _single("content"), "csldcp_predict.json",
                       "csldcp_predict.json", labels_file="labels_all.txt"),
]
