"""Report figures drawn with matplotlib's Agg backend and its bundled font (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_confusion", "plot_pr_curves"]


def _pyplot():  # matplotlib.pyplot, imported late and headless
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(curves: dict[str, np.ndarray], names: Sequence[str], path: Path) -> Path:
    """Precision-recall curve per class at IoU 0.5, and their mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    recall, precision, present = curves["recall"], curves["precision"], curves["classes"]
    for row, cls in enumerate(np.asarray(present, int)):
        if row < len(precision):
            label = names[cls] if cls < len(names) else str(cls)
            ax.plot(recall, precision[row], linewidth=1, label=label)
    if len(precision):
        ax.plot(recall, np.mean(precision, axis=0), color="black", linewidth=2.5, label="all classes")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall (IoU 0.5)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path) -> Path:
    """Counts of true class (rows) against predicted class (columns), background last."""
    plt = _pyplot()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n), dpi=110)
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            ax.text(col, row, str(value), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (at the thresholds, IoU 0.5)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
