"""Word segmentation with a discovered lexicon: one interface, three backends.

- ``jieba`` (default): jieba 0.42, with its HMM for unknown words;
- ``rjieba``: jieba's Rust port, same dictionary and algorithm, ~20x faster; its HMM output
  can differ from jieba's on unknown words, with ``hmm=False`` it is the same;
- ``pkuseg``: pkuseg's bundled default model (offline), an extra:
  ``pip install numpy cython && pip install --no-build-isolation 'zhnlp[pkuseg]'``.

A lexicon (any output format of ``zhnlp discover-words``: tsv, jsonl, jieba, pkuseg, or a
plain word list) is added to the backend so that its words come out whole.  Text is NFKC-
normalised first, as the miner's words are, so that a word found as ``1G内存`` matches
``１Ｇ内存`` in the text.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator

from zhnlp.errors import InputError, ZhnlpError
from zhnlp.parallel import bounded_imap, chunked, make_pool

BACKENDS = ("jieba", "rjieba", "pkuseg")
MAX_WORD = 32  # characters; a longer "word" means the file is text, not a lexicon


def read_lexicon(path: str) -> dict[str, int]:
    """Words and counts of a lexicon in any format that ``zhnlp discover-words`` writes.

    The format is told by the first line: the tsv header (``word count ...``), a JSON object
    (jsonl), else ``word`` or ``word count [tag]`` per line (the jieba and pkuseg formats, and
    plain word lists).  A line that does not fit the format is an :class:`InputError` naming
    the file and line.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a lexicon file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, "lexicon is not UTF-8 text", offset=exc.start) from None
    words: dict[str, int] = {}
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("word\tcount"):
        fmt = "tsv"
    elif first.lstrip().startswith("{"):
        fmt = "jsonl"
    else:
        fmt = "list"
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or (fmt == "tsv" and line == first and lineno == 1):
            continue
        word, count = _parse(line, fmt, path, lineno)
        word = unicodedata.normalize("NFKC", word)
        if len(word) > MAX_WORD:
            raise InputError(path, f"a {len(word)}-character word: is this a lexicon?",
                             line=lineno)
        words[word] = words.get(word, 0) + count
    if not words:
        raise InputError(path, "lexicon holds no words")
    return words


def _parse(line: str, fmt: str, path: str, lineno: int) -> tuple[str, int]:
    if fmt == "tsv":
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0] or not fields[1].isdigit():
            raise InputError(path, "expected WORD<TAB>COUNT<TAB>... as under the tsv header",
                             line=lineno)
        return fields[0], int(fields[1])
    if fmt == "jsonl":
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not a JSON object ({exc.msg})", line=lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("word"), str) or not obj["word"]:
            raise InputError(path, 'expected an object with a "word" string', line=lineno)
        count = obj.get("count", 1)
        if not isinstance(count, int) or count < 0:
            raise InputError(path, '"count" must be a non-negative integer', line=lineno)
        return obj["word"], count
    fields = line.split()
    if len(fields) > 3 or (len(fields) > 1 and not fields[1].isdigit()):
        raise InputError(path, "expected WORD or WORD COUNT [TAG] (is this a lexicon?)",
                         line=lineno)
    return fields[0], int(fields[1]) if len(fields) > 1 else 1


class Segmenter:
    """Cut text into words with ``backend``, the ``lexicon``'s words kept whole.

    ``hmm`` lets jieba/rjieba guess unknown words (pkuseg's model always does).
    """

    def __init__(self, backend: str = "jieba", lexicon: dict[str, int] | None = None, *,
                 hmm: bool = True, normalize: bool = True) -> None:
        if backend not in BACKENDS:
            raise ZhnlpError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
        self.backend = backend
        self.lexicon = dict(lexicon or {})
        self.hmm = hmm
        self.normalize = normalize
        self._cut = self._build()

    def _build(self) -> Callable[[str], list[str]]:
        words = list(self.lexicon)
        if self.backend == "jieba":
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in words:
                tokenizer.add_word(word)  # no freq: jieba picks one that keeps it whole
            hmm = self.hmm
            return lambda text: tokenizer.lcut(text, HMM=hmm)
        if self.backend == "rjieba":
            import rjieba

            tokenizer = rjieba.Jieba()
            for word in words:
                tokenizer.add_word(word, None, None)
            hmm = self.hmm
            return lambda text: tokenizer.cut(text, hmm)
        try:
            import pkuseg
        except ImportError:
            raise ZhnlpError("the pkuseg backend needs pkuseg: pip install numpy cython && "
                             "pip install --no-build-isolation 'zhnlp[pkuseg]'") from None
        model = pkuseg.pkuseg(user_dict=words) if words else pkuseg.pkuseg()
        return model.cut

    def cut(self, text: str) -> list[str]:
        """The words of ``text`` (whitespace dropped)."""
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
        return [w for w in self._cut(text) if w.strip()]

    def cut_lines(self, lines: Iterable[str], *, workers: int = 1,
                  chunk_lines: int = 2000) -> Iterator[list[str]]:
        """The words of each line, in order; ``workers`` processes cut chunks of lines."""
        if workers <= 1:
            yield from (self.cut(line) for line in lines)
            return
        pool = make_pool(workers, _init_worker, (self.backend, self.lexicon, self.hmm,
                                                 self.normalize))
        try:
            chunks = ((c,) for c in chunked(lines, chunk_lines))
            for chunk in bounded_imap(pool, _cut_chunk, chunks, 2 * workers):
                yield from chunk
        finally:
            pool.terminate()


_worker_segmenter: Segmenter | None = None


def _init_worker(backend: str, lexicon: dict[str, int], hmm: bool, normalize: bool) -> None:
    global _worker_segmenter
    _worker_segmenter = Segmenter(backend, lexicon, hmm=hmm, normalize=normalize)


def _cut_chunk(lines: list[str]) -> list[list[str]]:
    assert _worker_segmenter is not None
    return [_worker_segmenter.cut(line) for line in lines]
