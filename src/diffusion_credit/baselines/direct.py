"""Baselines read directly off measured values: leave-one-out and per-image property scores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .aggregation import check_labels

__all__ = ["leave_one_out", "mean_property_score"]


def leave_one_out(values: Mapping[str, float], num_contributors: int) -> np.ndarray:
    """Compute leave-one-out credit `v(N) − v(N ∖ {i})` from measured coalition values.

    Args:
        values: coalition bitstring to property value, where character `i`
            is `1` iff contributor `i` is in the coalition. It must hold the
            grand coalition (all ones) and every coalition with one zero.
        num_contributors: `n`, the length of every bitstring.

    Returns:
        float64 [n].

    Raises:
        ValueError: when a needed coalition is missing or a key is malformed.
    """
    for bits in values:
        if len(bits) != num_contributors or set(bits) - {"0", "1"}:
            raise ValueError(f"Coalition key {bits!r} must be {num_contributors} characters of '0' and '1'.")

    grand = "1" * num_contributors
    needed = [grand] + [_without(num_contributors, i) for i in range(num_contributors)]
    missing = [bits for bits in needed if bits not in values]
    if missing:
        raise ValueError(
            f"Leave-one-out needs v(N) and every v(N \\ {{i}}); missing coalitions {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}. Evaluate them first."
        )
    return np.array([values[grand] - values[_without(num_contributors, i)] for i in range(num_contributors)], dtype=np.float64)


def mean_property_score(
    per_image_scores: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    num_contributors: int | None = None,
) -> np.ndarray:
    """Average a per-image property score (e.g. aesthetic score) over each contributor's training images.

    Args:
        per_image_scores: float [N], the property scorer's value of each
            training image.
        labels: int [N], contributor index of each training image.
        num_contributors: `n`; `None` takes `labels.max() + 1`.

    Returns:
        float64 [n].

    Raises:
        ValueError: on mismatched lengths, non-finite scores or a
            contributor without images.
    """
    scores = np.asarray(per_image_scores.detach().cpu() if isinstance(per_image_scores, torch.Tensor) else per_image_scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"per_image_scores must have shape [N], got {list(scores.shape)}.")
    if not np.isfinite(scores).all():
        raise ValueError("per_image_scores contain NaN or infinite values.")
    labels, n = check_labels(labels, scores.shape[0], num_contributors)

    counts = np.bincount(labels, minlength=n)
    if (counts == 0).any():
        raise ValueError(f"Contributors {np.flatnonzero(counts == 0).tolist()} have no training images to average.")
    return np.bincount(labels, weights=scores, minlength=n) / counts


def _without(num_contributors: int, index: int) -> str:
    return "".join("0" if i == index else "1" for i in range(num_contributors))
