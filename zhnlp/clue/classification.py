"""The sentence and sentence-pair classification tasks of CLUE and FewCLUE, one entry each.

Each task says how a JSON line of its official files becomes (text A, text B, label), which
labels exist, and what its submission file is called; the metric is accuracy.  Readers
reject a malformed line with the file and line number, and an unknown label with the list
of the known ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from zhnlp.errors import InputError, ZhnlpError

Example = tuple[str, str | None, str | None, object]  # text A, text B, label, id


def _get(obj: dict, key: str, path: str, lineno: int) -> object:
    if key not in obj:
        raise InputError(path, f"missing field {key!r}", line=lineno)
    return obj[key]


def mark_wsc(text: str, span1: int, word1: str, span2: int, word2: str) -> str:
    """CLUEWSC2020: the noun in ``[...]`` and the pronoun in ``<...>``, offsets kept right
    (the later span is marked first, so the earlier offset still holds)."""
    spans = sorted([(span1, word1, "[", "]"), (span2, word2, "<", ">")], reverse=True)
    for start, word, left, right in spans:
        if text[start:start + len(word)] != word:
            raise ValueError(f"span {word!r} is not at offset {start}")
        text = text[:start] + left + word + right + text[start + len(word):]
    return text


def _single(key: str) -> Callable[[dict, str, int], tuple[str, str | None]]:
    return lambda o, p, n: (str(_get(o, key, p, n)), None)


def _pair(a: str, b: str) -> Callable[[dict, str, int], tuple[str, str | None]]:
    return lambda o, p, n: (str(_get(o, a, p, n)), str(_get(o, b, p, n)))


def _csl(o: dict, p: str, n: int) -> tuple[str, str | None]:
    keywords = _get(o, "keyword", p, n)
    if not isinstance(keywords, list):
        raise InputError(p, "field 'keyword' must be a list", line=n)
    return "，".join(map(str, keywords)), str(_get(o, "abst", p, n))


def _wsc(o: dict, p: str, n: int) -> tuple[str, str | None]:
    target = _get(o, "target", p, n)
    try:
        return mark_wsc(str(_get(o, "text", p, n)), int(target["span1_index"]),
                        target["span1_text"], int(target["span2_index"]),
                        target["span2_text"]), None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(p, f"bad target: {exc}", line=n) from None


@dataclass(frozen=True)
class ClassificationTask:
    """One classification task: its reader, labels and submission file."""

    name: str
    labels: tuple[str, ...]
    text: Callable[[dict, str, int], tuple[str, str | None]]
    submission: str
    skip_labels: tuple[str, ...] = ()
    labels_file: str | None = None  # a file in the data directory listing the labels
    id_keys: tuple[str, ...] = field(default=("id", "idx"))

    def label_list(self, data_dir: str) -> list[str]:
        if self.labels_file and os.path.exists(os.path.join(data_dir, self.labels_file)):
            with open(os.path.join(data_dir, self.labels_file), encoding="utf-8") as handle:
                return [line.strip() for line in handle if line.strip()]
        return list(self.labels)

    def read(self, path: str, labels: list[str], *, labelled: bool = True) -> list[Example]:
        """Examples of a JSON-lines file; ``labelled`` files must carry known labels."""
        known = set(labels)
        out: list[Example] = []
        try:
            handle = open(path, encoding="utf-8")
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        with handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"not a JSON object ({exc.msg})", line=lineno) \
                        from None
                if not isinstance(obj, dict):
                    raise InputError(path, "not a JSON object", line=lineno)
                a, b = self.text(obj, path, lineno)
                ident = next((obj[k] for k in self.id_keys if k in obj), lineno - 1)
                label = None
                if labelled:
                    label = str(_get(obj, "label", path, lineno))
                    if label in self.skip_labels:
                        continue
                    if label not in known:
                        raise InputError(path, f"unknown label {label!r} (known: "
                                         f"{', '.join(labels)})", line=lineno)
                out.append((a, b, label, ident))
        if not out:
            raise InputError(path, "no examples")
        return out


_NLI = ("entailment", "neutral", "contradiction")
_TASKS = [
    ClassificationTask("tnews", tuple(str(i) for i in range(100, 117) if i not in (105, 111)),
                       _single("sentence"), "tnews_predict.json"),
    ClassificationTask("iflytek", tuple(str(i) for i in range(119)), _single("sentence"),
                       "iflytek_predict.json"),
    ClassificationTask("afqmc", ("0", "1"), _pair("sentence1", "sentence2"),
                       "afqmc_predict.json"),
    ClassificationTask("ocnli", _NLI, _pair("sentence1", "sentence2"), "ocnli_50k_predict.json",
                       skip_labels=("-",)),
    ClassificationTask("cmnli", _NLI, _pair("sentence1", "sentence2"), "cmnli_predict.json",
                       skip_labels=("-",)),
    ClassificationTask("csl", ("0", "1"), _csl, "csl_predict.json"),
    ClassificationTask("cluewsc", ("true", "false"), _wsc, "cluewsc2020_predict.json"),
    ClassificationTask("bustm", ("0", "1"), _pair("sentence1", "sentence2"),
                       "bustm_predict.json"),
    ClassificationTask("eprstmt", ("Positive", "Negative"), _single("sentence"),
                       "eprstmt_predict.json"),
    ClassificationTask("csldcp", (), _single("content"), "csldcp_predict.json",
                       labels_file="labels_all.txt"),
]
TASKS = {t.name: t for t in _TASKS}


def get_task(name: str) -> ClassificationTask:
    """The task called ``name``."""
    if name not in TASKS:
        raise ZhnlpError(f"unknown task {name!r} (one of {', '.join(TASKS)})")
    return TASKS[name]
