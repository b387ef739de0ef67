"""The base lexicon: the words already known, and a segmenter that uses them.

``jieba`` (jieba's own ``dict.txt``), ``none``, or a path to a word list (one word per line,
optionally followed by a count, as jieba dictionaries and ``pku_training_words`` are).

The base may be written in another script than the corpus: with ``script`` "simplified"
(the default: jieba's dictionary is simplified) a candidate is looked up, and text is
segmented, in its OpenCC ``t2s`` conversion (房間 is the known 房间, not a new word);
"traditional" converts the other way (``s2t``), "as-is" not at all.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from zhnlp.errors import InputError, ZhnlpError

SCRIPTS = ("simplified", "traditional", "as-is")


@dataclass
class BaseLexicon:
    """Known words (NFKC-normalised, as candidates are) and a segmenter over them.

    ``words`` maps each word to its count; for jieba's own dictionary it is None and the
    words stay inside rjieba, which carries that dictionary.
    """

    name: str
    words: dict[str, int] | None
    convert: Callable[[str], str] | None = None  # into the base's script (see the module)

    @property
    def empty(self) -> bool:
        return self.words is not None and not self.words

    def __contains__(self, word: str) -> bool:
        return self._has(self.convert(word) if self.convert else word)

    def segment(self, text: str) -> list[str]:
        """Cut ``text`` with jieba's algorithm over this lexicon, HMM off (no guessed words),
        in the base's script; the pieces come back in ``text``'s own characters.

        Runs on rjieba (jieba's Rust port, same dictionary and output, ~20x faster).
        """
        if self.convert is None:
            return self._cut(text, False)
        converted = self.convert(text)
        if len(converted) != len(text):  # a conversion that changed lengths: cut as it is
            return self._cut(text, False)
        pieces, start = [], 0
        for token in self._cut(converted, False):
            pieces.append(text[start:start + len(token)])
            start += len(token)
        return pieces

    def __post_init__(self) -> None:
        # Bound once (the miner asks these of every candidate); rjieba loads on first use.
        self._has = self.words.__contains__ if self.words is not None else self._load_has
        self._cut = self._load_cut

    def _load(self) -> None:
        import rjieba

        if self.words is None:
            tokenizer = rjieba.Jieba()
            self._has = tokenizer.has_word
        else:
            tokenizer = rjieba.Jieba.empty()
            for word, count in self.words.items():
                tokenizer.add_word(word, count, None)
        self._cut = tokenizer.cut

    def _load_has(self, word: str) -> bool:
        self._load()
        return self._has(word)

    def _load_cut(self, text: str, hmm: bool) -> list[str]:
        self._load()
        return self._cut(text, hmm)


def jieba_dict_path() -> str:
    """The ``dict.txt`` that jieba ships."""
    import jieba

    return os.path.join(os.path.dirname(jieba.__file__), "dict.txt")


_ENTRY = re.compile(r"^[ \t]*([^\s#]\S*)(?:[ \t]+(\d+)(?![^\s]))?", re.M)


def read_word_list(path: str) -> dict[str, int]:
    """Words and counts of a word list: ``word`` or ``word count [more columns]`` per line."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, "word list is not UTF-8 text", offset=exc.start) from None
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    words: dict[str, int] = {}
    for word, count in _ENTRY.findall(text):
        words[word] = words.get(word, 0) + (int(count) if count else 1)
    if not words:
        raise InputError(path, "word list is empty")
    return words


@functools.cache
def converter(script: str) -> Callable[[str], str] | None:
    """OpenCC's conversion into ``script`` (:data:`SCRIPTS`); None for "as-is".

    One per script, remembering its recent strings: the miner converts each candidate and
    each sampled context several times (on the reviews corpus 115k calls, 35k strings)."""
    if script not in SCRIPTS:
        raise ZhnlpError(f"unknown script {script!r} ({', '.join(SCRIPTS)})")
    if script == "as-is":
        return None
    import opencc

    convert = opencc.OpenCC("t2s" if script == "simplified" else "s2t").convert
    return functools.lru_cache(maxsize=1 << 16)(convert)


def load_base(spec: str, script: str = "simplified") -> BaseLexicon:
    """``jieba``, ``none`` or a path to a word list, written in ``script``."""
    if spec == "none":
        return BaseLexicon("none", {})
    words = None if spec == "jieba" else read_word_list(spec)
    return BaseLexicon("jieba" if spec == "jieba" else os.path.basename(spec), words,
                       converter(script))
