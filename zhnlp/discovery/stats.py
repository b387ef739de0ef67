"""The statistics of new-word candidates: frequency, cohesion, branching entropy, score.

For a candidate ``w`` of ``n >= 2`` units seen ``c(w)`` times among ``N`` units:

- cohesion is the smallest pointwise mutual information over the ``n - 1`` ways to cut it,
  ``min_k ln( c(w) * N / (c(w[:k]) * c(w[k:])) )``: a word holds together at its weakest joint;
- the right branching entropy is ``-sum_x p(x) ln p(x)`` over the units ``x`` that follow
  ``w``, where every occurrence at a sentence or line boundary is a distinct neighbour of its
  own (a word that ends many lines is free on the right, not stuck); left likewise;
- the score (used for ranking) is

      score = ln(c(w)) * min(cohesion, 10) * min(left_entropy, right_entropy)

  frequent, tightly bound and freely placed on both sides; cohesion is capped because a
  PMI far above what any real word needs only says that its parts are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zhnlp.discovery.ngrams import NgramCounts

COHESION_CAP = 10.0
# below e**(1/0.9) ~ 3 occurrences no n-gram reaches an entropy of 1: there the threshold
# asks for this share of the largest entropy its count allows (ln count), all but one
# neighbour different, so that a low min_count lets rare words in rather than nothing
SMALL_COUNT_ENTROPY = 0.9


def default_min_count(units: int) -> int:
    """The fewest occurrences of a candidate, from the corpus size: 3 at 100k units (and
    below), 5 at 2.5M, 9 at 300M; a rare word of a small corpus is seen a few times only.
    (2 lets in overlapping fragments, 助申奥 beside 申奥, that cost segmentation F1.)"""
    return max(3, round(2 * np.log10(max(units, 1) / 1e4)))


@dataclass
class Candidates:
    """Arrays over all candidates of 2 to ``max_len`` units, one row per candidate."""

    words: list[str]
    length: np.ndarray
    count: np.ndarray
    cohesion: np.ndarray
    left_entropy: np.ndarray
    right_entropy: np.ndarray
    score: np.ndarray
    level_row: np.ndarray  # row of the candidate in its level of the counts
    considered: int = 0  # n-grams looked at, before the thresholds

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, mask: np.ndarray) -> Candidates:
        """The candidates where ``mask`` is true."""
        idx = np.flatnonzero(mask)
        return Candidates([self.words[i] for i in idx.tolist()],
                          *(getattr(self, f)[idx] for f in _ARRAYS), self.considered)


_ARRAYS = ("length", "count", "cohesion", "left_entropy", "right_entropy", "score", "level_row")


def branching_entropy(count: np.ndarray, neighbour_total: np.ndarray,
                      neighbour_nlogn: np.ndarray) -> np.ndarray:
    """Entropy (natural log) of the neighbours of n-grams seen ``count`` times.

    Occurrences without a neighbour (``count - neighbour_total`` of them, at boundaries) are
    each a neighbour seen once, adding ``1 * ln 1 = 0`` to ``sum k ln k``; hence
    ``H = ln c - (sum k ln k) / c``.
    """
    assert np.all(neighbour_total <= count)
    count = count.astype(np.float64)
    return np.maximum(np.log(count) - neighbour_nlogn / count, 0.0)


def cohesion(counts: NgramCounts, grams: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Minimum PMI over the cut points of each n-gram (rows of ``grams``), natural log."""
    n = grams.shape[1]
    best = np.full(grams.shape[0], np.inf)
    log_total_count = np.log(counts.total) + np.log(count.astype(np.float64))
    for k in range(1, n):
        left = counts.count_of(grams[:, :k]).astype(np.float64)
        right = counts.count_of(grams[:, k:]).astype(np.float64)
        best = np.minimum(best, log_total_count - np.log(left) - np.log(right))
    return best


def score(count: np.ndarray, cohesion: np.ndarray, left_entropy: np.ndarray,
          right_entropy: np.ndarray) -> np.ndarray:
    """The ranking score of the module docstring."""
    return (np.log(count) * np.clip(cohesion, 0.0, COHESION_CAP)
            * np.minimum(left_entropy, right_entropy))


def candidates(counts: NgramCounts, max_len: int, *, min_cohesion: float = -np.inf,
               min_entropy: float = -np.inf) -> Candidates:
    """Statistics of the n-grams of 2 to ``max_len`` units in ``counts`` with at least
    ``min_cohesion`` and both entropies at least ``min_entropy`` (or, for n-grams seen too
    seldom to reach it, ``SMALL_COUNT_ENTROPY`` of the ``ln count`` they can reach).

    The thresholds apply before any string is made: on a large corpus most n-grams fail
    them, and a Python string apiece would cost more memory than the counts themselves.
    ``considered`` on the result tells how many n-grams were looked at.
    ``counts`` must hold at least ``max_len + 1`` levels (the neighbours of the longest).
    """
    if counts.max_n < max_len + 1:
        raise ValueError(f"counts of up to {counts.max_n} units cannot rank candidates "
                         f"of {max_len} units (need {max_len + 1})")
    words: list[str] = []
    parts: dict[str, list[np.ndarray]] = {f: [] for f in _ARRAYS}
    considered = 0
    for n in range(2, max_len + 1):
        count = counts.counts[n - 1]
        considered += count.size
        left = branching_entropy(count, counts.left_total[n - 1], counts.left_nlogn[n - 1])
        right = branching_entropy(count, counts.right_total[n - 1], counts.right_nlogn[n - 1])
        need = np.minimum(min_entropy, SMALL_COUNT_ENTROPY * np.log(np.maximum(count, 1)))
        rows = np.flatnonzero(np.minimum(left, right) >= need)
        coh = cohesion(counts, counts.grams(n)[rows], count[rows])
        keep = coh >= min_cohesion
        rows, coh = rows[keep], coh[keep]
        count, left, right = count[rows], left[rows], right[rows]
        words.extend(counts.strings(n, rows))
        for name, arr in zip(_ARRAYS, (np.full(rows.size, n), count, coh, left, right,
                                       score(count, coh, left, right), rows)):
            parts[name].append(arr)
    out = Candidates(words, *(np.concatenate(parts[f]) if parts[f] else np.empty(0)
                              for f in _ARRAYS))
    out.considered = considered
    return out
