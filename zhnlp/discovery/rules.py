"""The rule half of rule + statistical discovery, read from the files in ``lexicon/``.

- ``patterns.txt``: spans cut out before counting (URLs, e-mail addresses) and patterns of
  candidates that are not words (numerals, dates, times, quantities, ordinals);
- ``stop_chars.txt``: characters that disqualify a candidate at either edge, unless the base
  lexicon knows it;
- ``affixes.txt``: a known word plus a productive affix is a derived form, not a new word;
- compounds (no file): a candidate that the base segmenter cuts into known words whose
  parts also occur apart;
- counts (no file): a candidate that opens with an amount (两场比赛, 多家公司) is a count of a
  free noun when other numerals and determiners take its place often enough (一场比赛,
  这场比赛); a name stands alone (三只松鼠);
- boundary consistency (no file): a candidate whose edges fall inside the base segmenter's
  tokens in most of its occurrences is a fragment of longer words (委书记, 南省, 斯坦); an
  amount (a numeral with its unit: 3次, 12日, 5万, the patterns marked ``amount``) counts as
  one token there, so that 次交手 of 3次交手 is a fragment although jieba cuts 3|次|交手.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zhnlp.discovery.normalize import NUMBER_JOINS
from zhnlp.errors import InputError


def _rule_lines(directory: Path | None, name: str) -> list[tuple[int, str]]:
    path = (directory / name) if directory else resources.files("zhnlp.lexicon") / name
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(i, line) for i, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class Cutter:
    """The "cut" patterns: ``sub(repl, text)`` replaces their matches line by line.

    A pattern with hints runs only on the lines holding one of them, so a corpus pays for
    the few lines with a URL, not for every character.
    """

    patterns: list[tuple[re.Pattern[str], tuple[str, ...]]]

    def sub(self, repl: str, text: str) -> str:
        for pattern, hints in self.patterns:
            if not hints:
                text = pattern.sub(repl, text)
                continue
            spans = _lines_holding(text, hints)
            if spans:
                parts, prev = [], 0
                for lo, hi in spans:
                    parts += [text[prev:lo], pattern.sub(repl, text[lo:hi])]
                    prev = hi
                parts.append(text[prev:])
                text = "".join(parts)
        return text


def _lines_holding(text: str, hints: tuple[str, ...]) -> list[tuple[int, int]]:
    """Sorted, disjoint (start, end) spans of the lines of ``text`` that hold a hint."""
    starts = set()
    for hint in hints:
        at = text.find(hint)
        while at >= 0:
            lo = text.rfind("\n", 0, at) + 1
            starts.add(lo)
            hi = text.find("\n", at)
            at = text.find(hint, hi if hi >= 0 else len(text))
    spans = []
    for lo in sorted(starts):
        hi = text.find("\n", lo)
        spans.append((lo, hi if hi >= 0 else len(text)))
    return spans


@dataclass
class Rules:
    """The rule files, compiled."""

    cut: Cutter | None
    not_words: list[tuple[str, re.Pattern[str]]]
    stop_chars: frozenset[str]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    amounts: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def load(cls, directory: str | None = None) -> Rules:
        """Read the rule files from ``directory``, or the ones installed with zhnlp."""
        where = Path(directory) if directory else None
        cuts, not_words, amounts = [], [], []
        for lineno, line in _rule_lines(where, "patterns.txt"):
            fields = line.split("\t")
            if not 3 <= len(fields) <= 4 or fields[1] not in ("cut", "word") or \
                    fields[1] == "word" and fields[3:] not in ([], ["amount"]):
                raise InputError("patterns.txt", "expected NAME<TAB>cut<TAB>REGEX[<TAB>HINTS] "
                                 "or NAME<TAB>word<TAB>REGEX[<TAB>amount]", line=lineno)
            try:
                pattern = re.compile(fields[2])
            except re.error as exc:
                raise InputError("patterns.txt", f"bad regex: {exc}", line=lineno) from None
            if fields[1] == "cut":
                hints = tuple(h for h in fields[3].split("|") if h) if len(fields) == 4 else ()
                cuts.append((pattern, hints))
            else:
                not_words.append((fields[0], pattern))
                if fields[3:]:
                    amounts.append(pattern)
        stop = frozenset(line.strip() for _, line in _rule_lines(where, "stop_chars.txt"))
        prefixes, suffixes = [], []
        for lineno, line in _rule_lines(where, "affixes.txt"):
            kind, _, affix = line.partition("\t")
            if kind not in ("prefix", "suffix") or not affix.strip():
                raise InputError("affixes.txt", "expected prefix|suffix<TAB>AFFIX", line=lineno)
            (prefixes if kind == "prefix" else suffixes).append(affix.strip())
        return cls(Cutter(cuts) if cuts else None, not_words, stop, tuple(prefixes),
                   tuple(suffixes), tuple(amounts))

    def __post_init__(self) -> None:
        # one search per candidate instead of one per pattern; the group names which matched
        self._not_word = (re.compile("|".join(f"(?P<p{i}>{p.pattern})"
                                              for i, (_, p) in enumerate(self.not_words)))
                          if self.not_words else None)
        # join_amounts tries every token run of every sampled context: one match, not six
        self._amount = (re.compile("|".join(f"(?:{p.pattern})" for p in self.amounts))
                        if self.amounts else None)

    def reject_reason(self, word: str, known: Callable[[str], bool],
                      lexical: Callable[[str], bool] | None = None) -> str | None:
        """Why ``word`` is not a new word (the rule's name), or None if no rule objects.

        ``known`` tells the words of the base lexicon; ``lexical`` (default ``known``) what an
        affix may attach to: a known word, or a phrase of known words (退出现役 of 退出现役后).
        """
        lexical = lexical or known
        if self._not_word is not None:
            match = self._not_word.search(word)
            if match:
                return self.not_words[int(match.lastgroup[1:])][0]
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

    def join_amounts(self, tokens: list[str]) -> list[str]:
        """``tokens`` with each run of up to four adjacent tokens that together are an
        amount (the whole string matches an ``amount`` pattern) joined into one, the
        longest run first: ['3', '次', '交手'] gives ['3次', '交手']."""
        if self._amount is None:
            return tokens
        out, i = [], 0
        while i < len(tokens):
            end, joined = i + 1, tokens[i]
            for j in range(i + 1, min(i + AMOUNT_TOKENS, len(tokens))):
                joined += tokens[j]
                if self._amount.fullmatch(joined):
                    end = j + 1
            out.append("".join(tokens[i:end]))
            i = end
        return out

    def opens_with_amount(self, tokens: list[str]) -> bool:
        """Whether ``tokens`` open with an amount that more tokens follow (两场|比赛)."""
        joined = self.join_amounts(tokens)
        return len(joined) > 1 and bool(self._amount and self._amount.fullmatch(joined[0]))


AMOUNT_TOKENS = 4  # 5|万|平方|米: a numeral, a unit, a unit of two tokens
# what else stands where a count's numeral stands: numerals, demonstratives, 每 and 各
# (both scripts)
NUMERAL_SUBSTITUTES = "一二两兩三四五六七八九十几幾多数數这這那每各某"


def counted_forms(word: str) -> list[str]:
    """``word`` with its first character, a numeral, replaced by each other numeral or
    determiner: the forms that a count of a free noun also takes (两场比赛: 一场比赛,
    这场比赛...); none for a word that does not open with one."""
    if not word or word[0] not in NUMERAL_SUBSTITUTES:
        return []
    return [c + word[1:] for c in NUMERAL_SUBSTITUTES if c != word[0]]


# one or two digits that end a string after a character that is not part of a number or a
# Latin run (the rules reject longer numbers and decimals at an edge)
_TRAILING_NUMBER = re.compile(rf"(?<=[^0-9A-Za-z{re.escape(NUMBER_JOINS)}])[0-9]{{1,2}}$")


def trailing_number(word: str) -> tuple[str, str] | None:
    """``(head, number)`` of a string that a number of one or two digits ends (星际争霸2:
    星际争霸, 2); None for one that does not end in one."""
    found = _TRAILING_NUMBER.search(word)
    return None if found is None else (word[:found.start()], found.group())


def compound_cuts(word: str, segment: Callable[[str], list[str]],
                  known: Callable[[str], bool]) -> list[int] | None:
    """Where the base segmenter cuts ``word`` if it is a phrase of known words, else None.

    A phrase: two or more known words, at least one of several characters (退出现役, 中国人民,
    性价比高).  The offsets let the caller spare phrases whose parts are bound to each other
    (杜|拉拉, 锦江|之星: parts seldom seen apart).
    """
    tokens = segment(word)
    if len(tokens) < 2 or all(len(t) == 1 for t in tokens) or not all(map(known, tokens)):
        return None
    return [sum(len(t) for t in tokens[:i]) for i in range(1, len(tokens))]


def nested_cuts(word: str, is_word: Callable[[str], bool]) -> list[int] | None:
    """Where ``word`` splits into the fewest words (two at least, one of several characters)
    that ``is_word`` knows; None if it does not.  Candidates are short: every split is
    tried."""
    best: list[int] | None = None
    n = len(word)
    for mask in range(1, 1 << (n - 1)):
        cuts = [i for i in range(1, n) if mask >> (i - 1) & 1]
        if best is not None and len(cuts) >= len(best):
            continue
        edges = [0, *cuts, n]
        parts = [word[a:b] for a, b in zip(edges, edges[1:])]
        if any(len(p) > 1 for p in parts) and all(map(is_word, parts)):
            best = cuts
    return best


def edge_inside(context: str, start: int, end: int,
                segment: Callable[[str], list[str]]) -> bool:
    """True if ``context[start:end]`` begins or ends inside a token of ``segment(context)``."""
    cuts, offset = {0}, 0
    for token in segment(context):
        offset += len(token)
        cuts.add(offset)
    return start not in cuts or end not in cuts
