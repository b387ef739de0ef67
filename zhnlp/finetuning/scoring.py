"""Scorers of the CLUE tasks that are not plain accuracy, as their official scripts define
them: CMRC 2018 (Chinese EM and F1) and CLUENER2020 (entity-level precision, recall, F1).

The English SQuAD scorer splits on whitespace, so a partial Chinese answer scores 0; CMRC's
own scorer segments Chinese into characters (and other text into words) and takes F1 from
the longest common substring of the two segmentations, max over the gold answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# the punctuation CMRC 2018's official evaluation removes
CMRC_PUNCT = frozenset(["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。",
                        "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
                        "「", "」", "（", "）", "－", "～", "『", "』"])
_HAN = re.compile(r"[\u4e00-\u9fa5]")
_WORD = re.compile(r"\w+|[^\w\s]")


def cmrc_segments(text: str, *, drop_punct: bool = True) -> list[str]:
    """Chinese characters one by one, other runs cut into words and symbols, lower-cased.

    (The official script cuts the non-Chinese runs with nltk's word_tokenize; this regex
    gives the same pieces for the letters, digits and symbols of CMRC's answers.)
    """
    out: list[str] = []
    pending = ""
    for char in text.lower().strip():
        if drop_punct and char in CMRC_PUNCT:
            continue
        if _HAN.match(char) or char in CMRC_PUNCT:
            out.extend(_WORD.findall(pending))
            pending = ""
            out.append(char)
        else:
            pending += char
    out.extend(_WORD.findall(pending))
    return out


def longest_common_substring(a: list[str], b: list[str]) -> int:
    """Length of the longest run of segments that ``a`` and ``b`` share."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def cmrc_f1(prediction: str, answers: Iterable[str]) -> float:
    """Best F1 over the gold answers, from the longest common substring of segments."""
    pred = cmrc_segments(prediction)
    best = 0.0
    for answer in answers:
        gold = cmrc_segments(answer)
        common = longest_common_substring(gold, pred)
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def cmrc_em(prediction: str, answers: Iterable[str]) -> float:
    """1 if the prediction equals a gold answer once lower-cased and without punctuation."""
    def strip(s: str) -> str:
        return "".join(c for c in s.lower().strip() if c not in CMRC_PUNCT)
    return float(any(strip(prediction) == strip(a) for a in answers))


Entity = tuple[str, int, int]  # type, start, end (inclusive, as CLUENER writes them)


def entities(label: dict[str, dict[str, list[list[int]]]]) -> set[Entity]:
    """The entities of a CLUENER ``label`` object: ``{type: {text: [[start, end], ...]}}``."""
    return {(kind, int(start), int(end)) for kind, by_text in label.items()
            for spans in by_text.values() for start, end in spans}


def entity_scores(gold: list[set[Entity]], predicted: list[set[Entity]]) -> dict[str, dict]:
    """Precision, recall and F1 per entity type and overall (micro), entity by entity: an
    entity counts when its type, start and end all match."""
    kinds = sorted({e[0] for s in gold + predicted for e in s})
    table = {}
    for kind in [*kinds, "overall"]:
        def keep(s: set[Entity], kind: str = kind) -> set[Entity]:
            return s if kind == "overall" else {e for e in s if e[0] == kind}
        tp = sum(len(keep(g) & keep(p)) for g, p in zip(gold, predicted))
        n_pred = sum(len(keep(p)) for p in predicted)
        n_gold = sum(len(keep(g)) for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[kind] = {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold,
                       "predicted": n_pred}
    return table
