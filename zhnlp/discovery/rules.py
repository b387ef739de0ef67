"""The rule half of rule + statistical discovery, read from the files in ``lexicon/``.

- ``patterns.txt``: spans cut out before counting (URLs, e-mail addresses) and patterns of
  candidates that are not words (numerals, dates, times, quantities, ordinals);
- ``stop_chars.txt``: characters that disqualify a candidate at either edge, unless the base
  lexicon knows it;
- ``affixes.txt``: a known word plus a productive affix is a derived form, not a new word;
- compounds (no file): a candidate that the base segmenter cuts into known words whose
  parts also occur apart;
- boundary consistency (no file): a candidate whose edges fall inside the base segmenter's
  tokens in most of its occurrences is a fragment of longer words (委书记, 南省, 斯坦).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zhnlp.errors import InputError


def _rule_lines(directory: Path | None, name: str) -> list[tuple[int, str]]:
    path = (directory / name) if directory else resources.files("zhnlp.lexicon") / name
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(i, line) for i, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class Rules:
    """The rule files, compiled."""

    cut: re.Pattern[str] | None
    not_words: list[tuple[str, re.Pattern[str]]]
    stop_chars: frozenset[str]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]

    @classmethod
    def load(cls, directory: str | None = None) -> Rules:
        """Read the rule files from ``directory``, or the ones installed with zhnlp."""
        where = Path(directory) if directory else None
        cuts, not_words = [], []
        for lineno, line in _rule_lines(where, "patterns.txt"):
            fields = line.split("\t")
            if len(fields) != 3 or fields[1] not in ("cut", "word"):
                raise InputError("patterns.txt", "expected NAME<TAB>cut|word<TAB>REGEX",
                                 line=lineno)
            try:
                pattern = re.compile(fields[2])
            except re.error as exc:
                raise InputError("patterns.txt", f"bad regex: {exc}", line=lineno) from None
            if fields[1] == "cut":
                cuts.append(fields[2])
            else:
                not_words.append((fields[0], pattern))
        stop = frozenset(line.strip() for _, line in _rule_lines(where, "stop_chars.txt"))
        prefixes, suffixes = [], []
        for lineno, line in _rule_lines(where, "affixes.txt"):
            kind, _, affix = line.partition("\t")
            if kind not in ("prefix", "suffix") or not affix.strip():
                raise InputError("affixes.txt", "expected prefix|suffix<TAB>AFFIX", line=lineno)
            (prefixes if kind == "prefix" else suffixes).append(affix.strip())
        cut = re.compile("|".join(f"(?:{c})" for c in cuts)) if cuts else None
        return cls(cut, not_words, stop, tuple(prefixes), tuple(suffixes))

    def reject_reason(self, word: str, known: Callable[[str], bool],
                      lexical: Callable[[str], bool] | None = None) -> str | None:
        """Why ``word`` is not a new word (the rule's name), or None if no rule objects.

        ``known`` tells the words of the base lexicon; ``lexical`` (default ``known``) what an
        affix may attach to: a known word, or a phrase of known words (退出现役 of 退出现役后).
        """
        lexical = lexical or known
        for name, pattern in self.not_words:
            if pattern.search(word):
                return name
        if known(word):
            return None
        if word[0] in self.stop_chars or word[-1] in self.stop_chars:
            return "stop_char"
        for prefix in self.prefixes:
            if word.startswith(prefix) and lexical(word[len(prefix):]):
                return "affix"
        for suffix in self.suffixes:
            if word.endswith(suffix) and lexical(word[:-len(suffix)]):
                return "affix"
        return None


def is_compound(word: str, segment: Callable[[str], list[str]], known: Callable[[str], bool],
                bound: Callable[[int], bool] | None = None) -> bool:
    """True if ``word`` is a phrase of known words rather than a new word.

    That is: the base segmenter cuts it into two or more known words, at least one of several
    characters (退出现役, 中国人民, 性价比高), and no cut joins parts that are ``bound`` to each
    other (``bound(k)``: the parts left and right of character offset ``k`` seldom occur
    apart, as 杜|拉拉 or 锦江|之星 in a corpus about them).
    """
    tokens = segment(word)
    if len(tokens) < 2 or all(len(t) == 1 for t in tokens) or not all(map(known, tokens)):
        return False
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(1, len(tokens))]
    return bound is None or not any(bound(k) for k in offsets)


def edge_inside(context: str, start: int, end: int,
                segment: Callable[[str], list[str]]) -> bool:
    """True if ``context[start:end]`` begins or ends inside a token of ``segment(context)``."""
    cuts, offset = {0}, 0
    for token in segment(context):
        offset += len(token)
        cuts.add(offset)
    return start not in cuts or end not in cuts
