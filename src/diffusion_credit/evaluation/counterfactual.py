"""Counterfactual check: retrain without (or with only) the top-credited contributors.

If an attribution is right, removing its top contributors should change the
property more than removing others::

    from diffusion_credit.evaluation import counterfactual_coalitions, relative_change

    coalitions = counterfactual_coalitions(scores, top_percent=10)
    # retrain on coalitions.without_top and on coalitions.only_top, measure F
    relative_change(v_full, v_without_top)      # (F_cf − F_full) / |F_full|
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["CounterfactualCoalitions", "top_contributors", "counterfactual_coalitions", "relative_change"]


class CounterfactualCoalitions(NamedTuple):
    """The two coalitions of a counterfactual check, bool `[n]` each."""

    without_top: np.ndarray
    only_top: np.ndarray


def top_contributors(scores: np.ndarray, top_percent: float) -> np.ndarray:
    """Return the indices of the top `top_percent` % contributors by score.

    The count is `ceil(top_percent · n / 100)` (at least one contributor);
    equal scores are ordered by contributor index.

    Args:
        scores: float `[n]`.
        top_percent: in `(0, 100]`.

    Returns:
        int64 `[K]`, highest score first.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise ValueError(f"scores must be a non-empty vector [n], got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite entries.")
    if not 0 < top_percent <= 100:
        raise ValueError(f"top_percent={top_percent} must be in (0, 100], e.g. 10 for the top 10%.")

    # Round first so that e.g. 30% of 10 is 3, not ceil(3.0000000000000004) = 4.
    count = max(1, math.ceil(round(top_percent * len(scores) / 100, 9)))
    return np.argsort(-scores, kind="stable")[:count]


def counterfactual_coalitions(scores: np.ndarray, top_percent: float) -> CounterfactualCoalitions:
    """Return the coalitions without the top `top_percent` % and with only them.

    With `top_percent = 100` the "without" coalition is empty, whose value is `v(∅)`.

    Returns:
        `CounterfactualCoalitions(without_top, only_top)`, complements of each other.
    """
    top = top_contributors(scores, top_percent)
    only_top = np.zeros(len(np.asarray(scores)), dtype=bool)
    only_top[top] = True
    return CounterfactualCoalitions(without_top=~only_top, only_top=only_top)


def relative_change(v_full: float, v_counterfactual: float | np.ndarray) -> float | np.ndarray:
    """Return `(v_cf − v_full) / |v_full|`, e.g. −0.2 for a 20% drop.

    Raises:
        ValueError: when `v_full` is 0 or not finite (the change is then undefined).
    """
    if not np.isfinite(v_full) or v_full == 0:
        raise ValueError(f"v_full={v_full}; the relative change needs a finite, non-zero reference value.")
    change = (np.asarray(v_counterfactual, dtype=np.float64) - v_full) / abs(v_full)
    return float(change) if change.ndim == 0 else change
