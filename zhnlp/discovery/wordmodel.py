"""A unigram word model over the candidates, fitted by EM: how often the corpus uses each
candidate *as a word* (TopWORDS, Deng et al., PNAS 2016; SentencePiece's unigram model).

Every sentence (a stretch of units between boundaries) is a sequence of words drawn one by
one, independently, word ``w`` with probability ``theta[w]``, from a vocabulary of every
single unit and the candidate strings.  EM sums over all the segmentations of each sentence
(forward-backward on its lattice): a word's expected count is the number of times it is
used as a word, and ``theta`` becomes the expected counts over their total.  A fragment
(斯坦 of 巴基斯坦) gives its occurrences to the word that holds it; a string that is better
explained as two words (a chance collocation) loses its occurrences to them.

The lattice is computed for all sentences at once, one position-in-sentence at a time, in
log space; memory is ``max_len + 2`` numbers per unit of the corpus.
"""

from __future__ import annotations

import numpy as np

from zhnlp.discovery.normalize import BOUNDARY


def _logsumexp(terms: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(terms)
    top = stacked.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(stacked - safe).sum(axis=0))


def _levels(depth: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The positions in ``mask``, grouped by ``depth`` (1, 2, ...), each group ascending."""
    where = np.flatnonzero(mask)
    order = np.argsort(depth[where], kind="stable")
    where, d = where[order], depth[where][order]
    cuts = np.flatnonzero(np.diff(d)) + 1
    return np.split(where, cuts)


class WordModel:
    """A unigram word model fitted by EM on a lattice of candidate words.

    ``fit(units, word_at, counts)``: ``units`` is the corpus (``0`` at boundaries, one at
    each end); ``word_at[l - 1, p]`` the id of the word of ``l`` units starting at position
    ``p`` (-1: none), every non-boundary unit being a word of length 1; ``counts`` the
    starting counts of the words (their raw frequencies).

    Attributes: ``theta_`` (word probabilities), ``expected_`` (expected uses as a word,
    under the fitted model), ``log_likelihood_`` (of the corpus, per iteration).
    """

    def __init__(self, *, iterations: int = 5) -> None:
        self.iterations = iterations

    def fit(self, units: np.ndarray, word_at: np.ndarray, counts: np.ndarray) -> WordModel:
        units = np.asarray(units)
        boundary = units == BOUNDARY
        positions = np.arange(units.size)
        # the boundary before each position, and the last unit before the next boundary
        start = np.maximum.accumulate(np.where(boundary, positions, 0))
        nxt = np.where(boundary, positions, units.size)
        end = np.minimum.accumulate(nxt[::-1])[::-1] - 1
        self._forward = _levels(positions - start, ~boundary)
        # a sentence start (a boundary followed by a unit) also has a backward value
        has_next = np.zeros(units.size, dtype=bool)
        has_next[:-1] = ~boundary[1:]
        starts_sentence = boundary & has_next
        after = np.where(boundary, np.concatenate((end[1:], [0])), end)
        self._backward = _levels(after - positions, (~boundary & (end > positions)) |
                                 starts_sentence)
        self._end_nodes = np.flatnonzero(~boundary & (end == positions))
        self._sentence_end = np.where(boundary, -1, end)
        self._start_nodes = np.flatnonzero(starts_sentence)
        theta = counts.astype(np.float64) / counts.sum()
        self.log_likelihood_ = []
        for _ in range(self.iterations):
            expected, loglik = self.expected_counts(word_at, theta)
            self.log_likelihood_.append(loglik)
            theta = expected / expected.sum()
        self.theta_ = theta
        self.expected_, _ = self.expected_counts(word_at, theta)
        return self

    def expected_counts(self, word_at: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """The E step: each word's expected uses under ``theta``, and the log-likelihood."""
        max_len, size = word_at.shape
        with np.errstate(divide="ignore"):
            log_theta = np.log(theta)

        def log_p(ids: np.ndarray) -> np.ndarray:
            return np.where(ids >= 0, log_theta[np.maximum(ids, 0)], -np.inf)

        alpha = np.full(size, -np.inf)
        alpha[self._start_nodes] = 0.0
        for q in self._forward:  # node q: after unit q
            terms = []
            for length in range(1, max_len + 1):
                prev = q - length
                ok = prev >= 0
                term = np.full(q.size, -np.inf)
                term[ok] = alpha[prev[ok]] + log_p(word_at[length - 1, prev[ok] + 1])
                terms.append(term)
            alpha[q] = _logsumexp(terms)
        beta = np.full(size, -np.inf)
        beta[self._end_nodes] = 0.0
        for q in self._backward:
            terms = []
            for length in range(1, max_len + 1):
                nxt = q + length
                ok = nxt < size
                term = np.full(q.size, -np.inf)
                term[ok] = log_p(word_at[length - 1, q[ok] + 1]) + beta[nxt[ok]]
                terms.append(term)
            beta[q] = _logsumexp(terms)
        z = alpha[np.maximum(self._sentence_end, 0)]  # each position's sentence total
        expected = np.zeros(theta.size)
        for length in range(1, max_len + 1):
            ids = word_at[length - 1]
            p = np.flatnonzero(ids >= 0)
            p = p[p + length - 1 < size]
            post = np.exp(alpha[p - 1] + log_theta[ids[p]] + beta[p + length - 1] - z[p])
            expected += np.bincount(ids[p], weights=post, minlength=theta.size)
        return expected, float(alpha[self._end_nodes].sum())
