"""Per-contributor aggregation of datum-level attribution scores."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_labels", "sum_per_contributor", "pool_per_contributor"]


def check_labels(labels: torch.Tensor | np.ndarray, num_examples: int, num_contributors: int | None) -> tuple[np.ndarray, int]:
    """Validate contributor labels and resolve the number of contributors.

    Args:
        labels: int [N], contributor index of each training image.
        num_examples: `N`, the number of training images the labels belong to.
        num_contributors: `n`; `None` takes `labels.max() + 1`.

    Returns:
        The labels as int64 numpy [N] and `n`.

    Raises:
        ValueError: on a length mismatch, a non-integer dtype, or a label
            outside `[0, n)`.
    """
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != num_examples:
        raise ValueError(f"labels must have shape [{num_examples}] (one per training image), got {list(labels.shape)}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer contributor indices, got dtype {labels.dtype}.")
    if num_contributors is None:
        num_contributors = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_contributors):
        raise ValueError(
            f"labels must lie in [0, {num_contributors}), got values in [{labels.min()}, {labels.max()}]; "
            "pass num_contributors matching the contributor list."
        )
    return labels.astype(np.int64), num_contributors


def sum_per_contributor(scores: np.ndarray, labels: np.ndarray, num_contributors: int) -> np.ndarray:
    """Sum datum-level scores over each contributor's images, then average over generated images.

    Summing is the aggregation TRAK-family scores are linear in. Because both
    steps are linear, averaging over generated images first gives the same
    result at lower cost.

    Args:
        scores: float [M, N], score of training image `j` for generated image `m`.
        labels: int64 [N], contributor index of each training image.
        num_contributors: `n`.

    Returns:
        float64 [n]; a contributor without images gets 0.
    """
    mean_over_generated = np.asarray(scores, dtype=np.float64).mean(axis=0)
    return np.bincount(labels, weights=mean_over_generated, minlength=num_contributors)


def pool_per_contributor(scores: np.ndarray, labels: np.ndarray, num_contributors: int, aggregate: str) -> np.ndarray:
    """Pool scores over each contributor's images by mean or max, then average over generated images.

    Args:
        scores: float [M, N], score of training image `j` for generated image `m`.
        labels: int64 [N], contributor index of each training image.
        num_contributors: `n`.
        aggregate: `mean` or `max` over a contributor's images.

    Returns:
        float64 [n].

    Raises:
        ValueError: on an unknown `aggregate` or a contributor without images.
    """
    if aggregate not in ("mean", "max"):
        raise ValueError(f"aggregate={aggregate!r} is not one of mean, max.")
    counts = np.bincount(labels, minlength=num_contributors)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"Contributors {missing} have no training images, so their {aggregate} similarity is undefined.")

    scores = np.asarray(scores, dtype=np.float64)
    pooled = np.empty((scores.shape[0], num_contributors))
    for contributor in range(num_contributors):
        columns = scores[:, labels == contributor]
        pooled[:, contributor] = columns.mean(axis=1) if aggregate == "mean" else columns.max(axis=1)
    return pooled.mean(axis=0)
