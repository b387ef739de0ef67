"""Output formats of discovered words: tsv, jsonl, a jieba user dictionary, a pkuseg word list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TextIO

from zhnlp.discovery.miner import KINDS, Word

FORMATS = ("tsv", "jsonl", "jieba", "pkuseg")
TSV_HEADER = ("word", "count", "cohesion", "left_entropy", "right_entropy", "score", "kind")
# what the segmenters' dictionaries take by default: terms cost a segmenter F1 where a
# standard splits them (PKU: 检察 机关), so they are a choice (``kinds``)
SEGMENTER_KINDS = ("word", "known")


@cache
def jieba_total() -> int:
    """Sum of the frequencies in jieba's dictionary (the size of the corpus behind it)."""
    from zhnlp.discovery.base import jieba_dict_path

    with open(jieba_dict_path(), encoding="utf-8") as handle:
        return sum(int(line.split(" ", 2)[1]) for line in handle if line.strip())


def jieba_freq(count: int, corpus_units: int | None) -> int:
    """A word's frequency on jieba's scale: as often as in our corpus, per unit of text.

    jieba picks the most probable path by ``freq / total``; a raw count of a small corpus
    would be tiny there and lose to the words around it (or demote a word jieba already has).
    """
    if not corpus_units:
        return count
    return max(count, round(count * jieba_total() / corpus_units))


def write_words(words: Sequence[Word], handle: TextIO, fmt: str = "tsv", *,
                corpus_units: int | None = None,
                kinds: Sequence[str] | None = None) -> None:
    """Write ``words`` (best first) to ``handle`` in format ``fmt`` (one of ``FORMATS``),
    those of ``kinds`` only (default: every kind in tsv and jsonl, ``SEGMENTER_KINDS`` in
    the segmenters' formats).

    ``jieba`` writes ``word freq`` lines that ``jieba.load_userdict`` reads, the frequency
    scaled to jieba's dictionary when ``corpus_units`` (units counted in the corpus) is given
    (see :func:`jieba_freq`).  ``pkuseg`` writes one word per line, the ``user_dict`` file of
    ``pkuseg.pkuseg``.
    """
    if kinds is None:
        kinds = SEGMENTER_KINDS if fmt in ("jieba", "pkuseg") else KINDS
    words = [w for w in words if w.kind in kinds]
    if fmt == "tsv":
        handle.write("\t".join(TSV_HEADER) + "\n")
        for w in words:
            handle.write(f"{w.word}\t{w.count}\t{w.cohesion:.4f}\t{w.left_entropy:.4f}\t"
                         f"{w.right_entropy:.4f}\t{w.score:.4f}\t{w.kind}\n")
    elif fmt == "jsonl":
        for w in words:
            handle.write(json.dumps(w.as_dict(), ensure_ascii=False) + "\n")
    elif fmt == "jieba":
        handle.writelines(f"{w.word} {jieba_freq(w.count, corpus_units)}\n" for w in words
                          if " " not in w.word)
    elif fmt == "pkuseg":
        handle.writelines(f"{w.word}\n" for w in words)
    else:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
