"""Output formats of discovered words: tsv, jsonl, a jieba user dictionary, a pkuseg word list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from zhnlp.discovery.miner import Word

FORMATS = ("tsv", "jsonl", "jieba", "pkuseg")
TSV_HEADER = ("word", "count", "cohesion", "left_entropy", "right_entropy", "score")


def write_words(words: Sequence[Word], handle: TextIO, fmt: str = "tsv") -> None:
    """Write ``words`` (best first) to ``handle`` in format ``fmt`` (one of ``FORMATS``).

    ``jieba`` writes ``word freq`` lines that ``jieba.load_userdict`` reads; the corpus count
    is the frequency, so jieba weighs a discovered word as it would a dictionary word seen as
    often.  ``pkuseg`` writes one word per line, the ``user_dict`` file of ``pkuseg.pkuseg``.
    """
    if fmt == "tsv":
        handle.write("\t".join(TSV_HEADER) + "\n")
        for w in words:
            handle.write(f"{w.word}\t{w.count}\t{w.cohesion:.4f}\t{w.left_entropy:.4f}\t"
                         f"{w.right_entropy:.4f}\t{w.score:.4f}\n")
    elif fmt == "jsonl":
        for w in words:
            handle.write(json.dumps(w.as_dict(), ensure_ascii=False) + "\n")
    elif fmt == "jieba":
        handle.writelines(f"{w.word} {w.count}\n" for w in words if " " not in w.word)
    elif fmt == "pkuseg":
        handle.writelines(f"{w.word}\n" for w in words)
    else:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
