"""Cohesion and branching entropy against a direct computation on a real excerpt."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter

import numpy as np
import pytest

from zhnlp.discovery import stats
from zhnlp.discovery.ngrams import count_corpus, encode_corpus

# a Latin/digit run (a point, colon or dash between digits, a percent, per-mille or degree
# sign after one, part of it: 12.5, 25%, 8°C), or a Han character
UNIT = re.compile(r"(?:[A-Za-z0-9]|(?<=[0-9])[.:-](?=[0-9])|(?<=[0-9])[%‰°])+"
                  r"|[\u3007\u4e00-\u9fff]")


def unit_segments(text: str) -> list[list[str]]:
    """Units by a regex, segments between everything else: an independent tokenisation."""
    out: list[list[str]] = []
    end = -1
    for unit in UNIT.finditer(unicodedata.normalize("NFKC", text)):
        if unit.start() != end:  # something that is no unit came between
            out.append([])
        out[-1].append(unit.group())
        end = unit.end()
    return out


def direct(segs: list[list[str]], word: tuple[str, ...]) -> tuple[int, float, float, float]:
    grams: Counter = Counter()
    n = len(word)
    right, left = [], []
    for s in segs:
        for k in range(1, n + 1):
            for i in range(len(s) - k + 1):
                grams[tuple(s[i:i + k])] += 1
        for i in range(len(s) - n + 1):
            if tuple(s[i:i + n]) == word:
                # a boundary is a neighbour of its own: a fresh object each time
                right.append(s[i + n] if i + n < len(s) else object())
                left.append(s[i - 1] if i > 0 else object())
    total = sum(len(s) for s in segs)
    c = grams[word]
    pmi = min(math.log(c * total / (grams[word[:k]] * grams[word[k:]])) for k in range(1, n))

    def entropy(items: list) -> float:
        counts = Counter(items).values()
        return -sum(v / c * math.log(v / c) for v in counts)

    return c, pmi, entropy(left), entropy(right)


def test_statistics_match_a_direct_computation(pku_lines, tmp_path):
    text = "\n".join(pku_lines[:400]) + "\n"
    uf = encode_corpus([text], str(tmp_path / "u.i32"))
    counts = count_corpus(uf, 5, 3, str(tmp_path))
    cands = stats.candidates(counts, 4)
    segs = unit_segments(text)
    index = {w: i for i, w in enumerate(cands.words)}
    checked = 0
    for word in ("罢免", "新世纪", "江泽民", "改革开放", "2000年", "据新华社", "增长"):
        if word not in index:
            continue
        i = index[word]
        units = tuple(UNIT.findall(word))
        c, pmi, hl, hr = direct(segs, units)
        assert cands.count[i] == c
        assert cands.cohesion[i] == pytest.approx(pmi)
        assert cands.left_entropy[i] == pytest.approx(hl)
        assert cands.right_entropy[i] == pytest.approx(hr)
        checked += 1
    assert checked >= 4


def test_known_counts_of_the_pku_test_set(pku_lines, tmp_path):
    uf = encode_corpus(["\n".join(pku_lines) + "\n"], str(tmp_path / "u.i32"))
    cands = stats.candidates(count_corpus(uf, 7, 5, str(tmp_path)), 6)
    index = {w: i for i, w in enumerate(cands.words)}
    assert cands.count[index["罢免"]] == 44
    assert cands.count[index["拉姆斯菲尔德"]] == 20
    # a word that ends many lines is not punished on the right
    i = index["拉姆斯菲尔德"]
    assert cands.right_entropy[i] > 2.0
    # a fragment has (almost) no freedom on the side it is cut from
    j = index["拉姆斯菲尔"]
    assert cands.right_entropy[j] == pytest.approx(0.0)
    assert np.all(cands.cohesion[cands.count > 0] > -50)


def test_score_prefers_frequent_cohesive_free_words():
    count = np.array([100, 100, 10])
    s = stats.score(count, np.array([5.0, 1.0, 5.0]), np.array([3.0, 3.0, 3.0]),
                    np.array([3.0, 3.0, 0.1]))
    assert s[0] > s[1] and s[0] > s[2]
    # a word stuck on one side (always followed by the same character) is worth less than
    # one moderately free on both: the score takes the smaller entropy
    stuck, free = stats.score(np.array([50, 50]), np.array([4.0, 4.0]), np.array([3.0, 1.0]),
                              np.array([0.1, 1.0]))
    assert stuck < free
    assert stats.score(np.array([5]), np.array([50.0]), np.array([1.0]), np.array([1.0]))[0] == \
        pytest.approx(math.log(5) * stats.COHESION_CAP)
