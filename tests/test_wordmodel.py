"""The unigram word model's E step against a brute-force sum over every segmentation, on
short real sentences of the PKU test text; and what EM does with a fragment and a word."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from zhnlp.discovery.normalize import BOUNDARY
from zhnlp.discovery.wordmodel import WordModel


def lattice(sentences: list[str], vocabulary: list[str], max_len: int):
    """The corpus as units (boundaries between sentences) and its word_at table."""
    units = [BOUNDARY]
    for s in sentences:
        units += [ord(c) for c in s] + [BOUNDARY]
    units = np.array(units, dtype=np.int32)
    ids = {w: i for i, w in enumerate(vocabulary)}
    word_at = np.full((max_len, units.size), -1, dtype=np.int32)
    text = "".join(chr(u) if u else "\0" for u in units)
    for p in range(units.size):
        for n in range(1, max_len + 1):
            piece = text[p:p + n]
            if len(piece) == n and "\0" not in piece and piece in ids:
                word_at[n - 1, p] = ids[piece]
    return units, word_at


def brute_force(sentences: list[str], vocabulary: list[str], theta: np.ndarray,
                max_len: int) -> tuple[np.ndarray, float]:
    ids = {w: i for i, w in enumerate(vocabulary)}
    expected, loglik = np.zeros(len(vocabulary)), 0.0
    for s in sentences:
        segs = []
        for cuts in itertools.product([0, 1], repeat=len(s) - 1):
            words, start = [], 0
            for i, cut in enumerate(cuts, 1):
                if cut:
                    words.append(s[start:i])
                    start = i
            words.append(s[start:])
            if all(w in ids and len(w) <= max_len for w in words):
                segs.append((words, math.prod(theta[ids[w]] for w in words)))
        z = sum(p for _, p in segs)
        loglik += math.log(z)
        for words, p in segs:
            for w in words:
                expected[ids[w]] += p / z
    return expected, loglik


@pytest.fixture(scope="module")
def excerpt(pku_lines):
    """Short real stretches between punctuation, and every n-gram of them as a word."""
    import re

    pieces = [p for line in pku_lines[:200] for p in re.split(r"[^\u4e00-\u9fff]+", line)
              if 3 <= len(p) <= 9][:40]
    vocabulary = sorted({p[i:i + n] for p in pieces for n in (1, 2, 3)
                         for i in range(len(p) - n + 1)})
    return pieces, vocabulary


def test_expected_counts_equal_a_sum_over_every_segmentation(excerpt):
    sentences, vocabulary = excerpt
    units, word_at = lattice(sentences, vocabulary, 3)
    rng = np.random.default_rng(0)
    theta = rng.random(len(vocabulary)) + 0.05
    theta /= theta.sum()
    model = WordModel(iterations=1).fit(units, word_at, np.ones(len(vocabulary)))
    got, loglik = model.expected_counts(word_at, theta)
    want, want_loglik = brute_force(sentences, vocabulary, theta, 3)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)
    assert loglik == pytest.approx(want_loglik, rel=1e-12)
    # every sentence's units are covered once: expected units covered = corpus units
    lengths = np.array([len(w) for w in vocabulary])
    assert (got * lengths).sum() == pytest.approx(sum(len(s) for s in sentences))


def test_em_raises_the_likelihood_and_gives_a_fragment_s_uses_to_its_word(pku_lines):
    # 拉姆斯菲尔德 (Rumsfeld) in real PKU sentences: its fragment 斯菲 is never used alone,
    # so EM takes its uses away, while the whole name keeps nearly all of its own
    import re

    sentences = [p for line in pku_lines for p in re.split(r"[^\u4e00-\u9fff]+", line)
                 if "拉姆斯菲尔德" in p]
    assert len(sentences) >= 5
    vocabulary = sorted({c for s in sentences for c in s} | {"拉姆斯菲尔德", "斯菲"})
    units, word_at = lattice(sentences, vocabulary, 6)
    raw = np.bincount(word_at[word_at >= 0], minlength=len(vocabulary)).astype(float)
    model = WordModel(iterations=5).fit(units, word_at, raw)
    ll = model.log_likelihood_
    assert all(b >= a - 1e-9 for a, b in zip(ll, ll[1:])) and ll[-1] > ll[0]
    ids = {w: i for i, w in enumerate(vocabulary)}
    name, fragment = ids["拉姆斯菲尔德"], ids["斯菲"]
    assert model.expected_[name] > 0.95 * raw[name]
    assert model.expected_[fragment] < 0.05 * raw[fragment]
