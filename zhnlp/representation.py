"""How spread out an encoder's token vectors are: a collapsed encoder (most tokens pointing
one way) is a worse fine-tuning start than random weights, and these two numbers show it."""

from __future__ import annotations

import numpy as np


def effective_rank(vectors: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values of the centred ``vectors``
    (rows: tokens): from 1 (every token on one line) to the width (spread evenly)
    (Roy & Vetterli, 2007)."""
    singular = np.linalg.svd(vectors - vectors.mean(0), compute_uv=False)
    share = singular[singular > 0] / singular.sum()
    return float(np.exp(-(share * np.log(share)).sum()))


def mean_cosine(vectors: np.ndarray, pairs: int = 5000, seed: int = 0) -> float:
    """The mean cosine of ``pairs`` random pairs of rows (1: every token one direction)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    a, b = np.random.default_rng(seed).integers(0, len(vectors), (2, pairs))
    return float((unit[a] * unit[b]).sum(1).mean())
