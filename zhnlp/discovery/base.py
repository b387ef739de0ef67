"""The base lexicon: the words already known, and a segmenter that uses them.

``jieba`` (jieba's own ``dict.txt``), ``none``, or a path to a word list (one word per line,
optionally followed by a count, as jieba dictionaries and ``pku_training_words`` are).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from zhnlp.errors import InputError


@dataclass
class BaseLexicon:
    """Known words (NFKC-normalised, as candidates are) and a segmenter over them.

    ``words`` maps each word to its count; for jieba's own dictionary it is None and the
    words stay inside rjieba, which carries that dictionary.
    """

    name: str
    words: dict[str, int] | None

    @property
    def empty(self) -> bool:
        return self.words is not None and not self.words

    def __contains__(self, word: str) -> bool:
        return self._has(word)

    def segment(self, text: str) -> list[str]:
        """Cut ``text`` with jieba's algorithm over this lexicon, HMM off (no guessed words).

        Runs on rjieba (jieba's Rust port, same dictionary and output, ~20x faster).
        """
        return self._cut(text, False)

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


def load_base(spec: str) -> BaseLexicon:
    """``jieba``, ``none`` or a path to a word list."""
    if spec == "none":
        return BaseLexicon("none", {})
    if spec == "jieba":
        return BaseLexicon("jieba", None)
    return BaseLexicon(os.path.basename(spec), read_word_list(spec))
