"""Text to counting units: NFKC, cut at punctuation and symbols, Latin/digit runs as one unit.

A corpus becomes one flat ``int32`` array of unit ids in which ``0`` marks a boundary
(punctuation, symbols, spaces, line ends): n-grams are never counted across a ``0``.
A Han character (or any other single character of a non-alphabetic script) is its own
code point; a run of Latin, Greek or Cyrillic letters and digits (``K``, ``XP``, ``2018``,
``MP3``; a point, colon or dash between two digits, and a percent, per-mille or degree sign
after one, are part of it: ``1.85``, ``0:2``, ``10%``, ``8°C``) is one unit with an id from
``RUN_BASE`` up, whose text is kept in a run table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import numpy as np

BOUNDARY = 0
RUN_BASE = 0x110000  # first id past the last code point

_SPLIT, _SINGLE, _RUN = 0, 1, 2


class Cut(Protocol):
    """What cuts spans out of text (a compiled ``re`` pattern, or the rules' cut patterns)."""

    def sub(self, repl: str, string: str) -> str: ...
_RUN_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
# what joins a number's digits (1.85, 0:2, 2-1) and what sign of a unit follows one (25%, 8°C)
NUMBER_JOINS, _SIGNS = ".:-", "%‰°"
_JOIN_CPS = np.array([ord(c) for c in NUMBER_JOINS], dtype=np.uint32)
_SIGN_CPS = np.array([ord(c) for c in _SIGNS], dtype=np.uint32)
# texts that hold either: most do not, and skip the array work
_NUMBER_JOIN = re.compile(f"[0-9](?:[{re.escape(NUMBER_JOINS)}][0-9]|[{re.escape(_SIGNS)}])")


_UNKNOWN = 255
_classes = np.full(RUN_BASE, _UNKNOWN, dtype=np.uint8)  # filled in as code points are seen


def _classify(cp: int) -> int:
    cat = unicodedata.category(chr(cp))
    if cat == "Nd":
        return _RUN
    if cat[0] in "LM" or cat in ("Nl", "No"):
        is_run = cat[0] == "L" and unicodedata.name(chr(cp), "").startswith(_RUN_SCRIPTS)
        return _RUN if is_run else _SINGLE
    return _SPLIT


def _lookup(table: np.ndarray, cps: np.ndarray, unknown: int,
            compute: Callable[[int], int]) -> np.ndarray:
    """``table[cps]``, computing the entries still ``unknown`` once per code point seen."""
    values = table[cps]
    unseen = values == unknown
    if unseen.any():
        for cp in np.unique(cps[unseen]).tolist():
            table[cp] = compute(cp)
        values = table[cps]
    return values


def char_classes(cps: np.ndarray) -> np.ndarray:
    """Class of each code point: 0 boundary, 1 a unit by itself, 2 part of a letter/digit run."""
    return _lookup(_classes, cps, _UNKNOWN, _classify)


_UNMAPPED = 0xFFFFFFFF  # not looked at yet
_EXPANDS = 0xFFFFFFFE  # its NFKC form is several code points (… -> ...), kept in _forms
_COMPOSES = 0xFFFFFFFD  # a combining mark: NFKC may compose it with its neighbour
_nfkc = np.full(RUN_BASE, _UNMAPPED, dtype=np.uint32)  # code point -> its NFKC code point
_forms: dict[int, str] = {}


def _nfkc_of(cp: int) -> int:
    c = chr(cp)
    if unicodedata.combining(c) or unicodedata.category(c)[0] == "M":
        return _COMPOSES
    form = unicodedata.normalize("NFKC", c)
    if len(form) != 1:
        _forms[cp] = form
        return _EXPANDS
    return ord(form)


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, fast for text without combining marks.

    Without combining marks NFKC maps each code point on its own, so Chinese text goes
    through a table (and a few expansions such as … -> ...); text with combining marks
    goes through unicodedata.
    """
    cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    mapped = _lookup(_nfkc, cps, _UNMAPPED, _nfkc_of)
    special = np.flatnonzero(mapped >= _COMPOSES)
    if not special.size:
        return mapped.tobytes().decode("utf-32-le")
    if (mapped[special] == _COMPOSES).any():
        return unicodedata.normalize("NFKC", text)
    mapped[special] = 0x20  # placeholders, replaced by the expansions below
    flat = mapped.tobytes().decode("utf-32-le")
    parts, prev = [], 0
    for i, cp in zip(special.tolist(), cps[special].tolist()):
        parts.append(flat[prev:i])
        parts.append(_forms[cp])
        prev = i + 1
    parts.append(flat[prev:])
    return "".join(parts)


def normalize(text: str, cut: Cut | None = None) -> str:
    """NFKC (full-width digits and Latin to half-width), and spans matching ``cut`` (URLs,
    e-mail addresses) replaced by a line break so that nothing is counted across them."""
    text = nfkc(text)
    return cut.sub("\n", text) if cut is not None else text


def encode(text: str, cut: Cut | None = None) -> tuple[np.ndarray, list[str]]:
    """Encode text into unit ids; returns ``(units, runs)``.

    ``units`` starts and ends with a boundary and never holds two boundaries in a row; a
    run unit ``RUN_BASE + k`` stands for ``runs[k]`` (ids local to this call: the caller maps
    them into its own run table).
    """
    text = normalize(text, cut)
    cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    cls = char_classes(cps)
    units = cps.astype(np.int32)
    # a number with a point, a colon or a dash (赔率1.85, 0:2, 2-1) or a sign of its unit
    # (上浮10%, 阴8°C) is one unit: cut there, its first digits would look like a number
    # that ends a name (星际争霸2) and what follows it like a word's start (米床 of 1.8米床)
    if _NUMBER_JOIN.search(text):
        digit = (cps >= 0x30) & (cps <= 0x39)
        joins = np.flatnonzero(np.isin(cps[1:-1], _JOIN_CPS)) + 1
        cls[joins[digit[joins - 1] & digit[joins + 1]]] = _RUN
        signs = np.flatnonzero(np.isin(cps[1:], _SIGN_CPS)) + 1
        cls[signs[digit[signs - 1]]] = _RUN
    units[cls == _SPLIT] = BOUNDARY
    in_run = cls == _RUN
    prev_in_run = np.concatenate(([False], in_run[:-1]))
    next_in_run = np.concatenate((in_run[1:], [False]))
    starts = np.flatnonzero(in_run & ~prev_in_run)
    ends = np.flatnonzero(in_run & ~next_in_run) + 1
    runs: list[str] = []
    if starts.size:
        index: dict[str, int] = {}
        local = np.fromiter((index.setdefault(text[s:e], len(index))
                             for s, e in zip(starts.tolist(), ends.tolist())),
                            dtype=np.int32, count=starts.size)
        units[starts] = RUN_BASE + local
        runs = list(index)
        units = units[~(in_run & prev_in_run)]
    units = np.concatenate(([BOUNDARY], units, [BOUNDARY])).astype(np.int32)
    is_b = units == BOUNDARY
    keep = ~(is_b & np.concatenate(([False], is_b[:-1])))
    return units[keep], runs


def unit_text(unit: int, runs: list[str]) -> str:
    """The text of one unit id."""
    return chr(unit) if unit < RUN_BASE else runs[unit - RUN_BASE]


class RepeatedLines:
    """Passes text chunks on with every line seen before left out (blank lines kept): a line
    repeated verbatim (a site's footer, a reply template, a corpus shipped twice) is counted
    once, since a template is not language.  ``lines`` and ``dropped`` count what went by."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.lines = 0
        self.dropped = 0

    def __call__(self, chunks: Iterable[str]) -> Iterator[str]:
        for chunk in chunks:
            kept = []
            for line in chunk.split("\n"):
                key = line.strip()
                if key:
                    self.lines += 1
                    # 64-bit hashes: the set holds numbers, not the lines themselves
                    digest = hash(key)
                    if digest in self.seen:
                        self.dropped += 1
                        continue
                    self.seen.add(digest)
                kept.append(line)
            yield "\n".join(kept)
