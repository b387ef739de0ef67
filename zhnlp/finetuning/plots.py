"""The pictures of a fine-tuning run: the dev score by epoch (``curve.png``) and, for a
classifier, the confusion of its best checkpoint on dev (``confusion.png``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zhnlp.io import atomic_write


def confusion(gold: list[str], predicted: list[str], labels: list[str]) -> np.ndarray:
    """Counts of (gold label, predicted label), rows and columns in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[g] for g in gold], [index[p] for p in predicted]), 1)
    return matrix


def _save(fig: Any, path: str) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: np.ndarray, labels: list[str], path: str) -> None:
    """Each gold label's row as shares of its examples, with the counts written in the cells."""
    plt = _pyplot()
    shares = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold (dev)")
    if len(labels) <= 30:
        for (i, j), n in np.ndenumerate(matrix):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the gold label's examples")
    _save(fig, path)


def plot_curve(results: dict[str, Any], path: str) -> None:
    """The dev metric after each epoch, a line per seed, and the trivial baseline."""
    plt = _pyplot()
    metric = results["metric"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, r in results["seeds"].items():
        ax.plot(range(1, len(r["by_epoch"]) + 1), [s[metric] for s in r["by_epoch"]],
                marker="o", label=f"seed {seed}")
    ax.axhline(results["baseline"][metric], color="grey", linestyle="--", label="baseline")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"dev {metric}")
    ax.set_title(results["task"])
    ax.legend()
    _save(fig, path)
