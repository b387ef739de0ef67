"""The hybrid scorer: a classifier that learns what a word looks like from the known ones.

The candidates that the base lexicon already knows are the positives, the rest the
unlabelled (treated as negatives, as positive-unlabelled learning does); a gradient-boosted
classifier over the candidates' statistics then ranks the unknown candidates by the
probability it gives them of being a word.
"""

from __future__ import annotations

import numpy as np

from zhnlp.discovery.stats import COHESION_CAP, Candidates


def features(cands: Candidates) -> np.ndarray:
    """One row per candidate: log count, cohesion, both entropies, their minimum, length."""
    return np.column_stack([
        np.log(cands.count), np.clip(cands.cohesion, -COHESION_CAP, COHESION_CAP),
        cands.left_entropy, cands.right_entropy,
        np.minimum(cands.left_entropy, cands.right_entropy), cands.length,
    ])


def classifier_scores(cands: Candidates, known: np.ndarray, train: np.ndarray, *,
                      seed: int = 0) -> np.ndarray:
    """Probability of being a word for every candidate, from a classifier fitted on ``train``
    (the candidates that passed the rules) with ``known`` as the labels."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = features(cands)
    y = known[train]
    if y.all() or not y.any():  # one class only: nothing to learn, fall back to the formula
        return cands.score
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    model.fit(x[train], y)
    return model.predict_proba(x)[:, 1]
