"""Selection of the ridge `λ` of TRAK-family scores on held-out coalitions.

Each candidate `λ` gives contributor scores `τ`, and a coalition `S` is
predicted additively as `g(S) = Σ_{i∈S} τ_i`. The selected `λ` is the one
whose predictions have the highest Spearman correlation with the measured
property values.

The coalitions passed here must be held out from every LDS evaluation set.
Selecting `λ` on the LDS coalitions themselves tunes the baseline on its own
test data and inflates its LDS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

__all__ = ["RidgeSelection", "select_ridge_lambda", "additive_predictions"]

logger = logging.getLogger(__name__)


@dataclass
class RidgeSelection:
    """The selected `λ` and the Spearman correlation of every candidate.

    Attributes:
        ridge_lambda: the selected `λ`.
        scores: float64 [n], contributor scores at the selected `λ`.
        lambdas: the candidates, in the order given.
        spearman: float64 [len(lambdas)], Spearman correlation of each
            candidate's additive predictions with the held-out values (NaN
            where the predictions are constant).
    """

    ridge_lambda: float
    scores: np.ndarray
    lambdas: list[float]
    spearman: np.ndarray


def additive_predictions(coalitions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Predict each coalition's value as the sum of its members' scores.

    Args:
        coalitions: bool [m, n], row `r` is coalition `S_r`.
        scores: float [n], contributor scores `τ`.

    Returns:
        float64 [m], `g(S_r) = Σ_{i∈S_r} τ_i`.
    """
    return np.asarray(coalitions, dtype=np.float64) @ np.asarray(scores, dtype=np.float64)


def select_ridge_lambda(
    lambdas: Sequence[float],
    coalitions: np.ndarray,
    values: np.ndarray,
    score_fn: Callable[[float], np.ndarray],
) -> RidgeSelection:
    """Pick the `λ` whose additive predictions rank held-out coalitions best.

    Never pass the LDS evaluation coalitions here: they must stay unseen
    until the LDS of the selected scores is measured.

    Args:
        lambdas: candidate values, each >= 0.
        coalitions: bool [m, n], held-out coalitions (m >= 3).
        values: float [m], the measured property value of each coalition.
        score_fn: maps a `λ` to contributor scores float [n].

    Returns:
        The selection; ties go to the candidate listed first.

    Raises:
        ValueError: on an empty grid, mismatched shapes, fewer than 3
            coalitions, or a grid where every candidate gives constant
            predictions.
    """
    coalitions, values = _check_holdout(lambdas, coalitions, values)

    correlations, all_scores = [], []
    for ridge_lambda in lambdas:
        scores = np.asarray(score_fn(float(ridge_lambda)), dtype=np.float64)
        if scores.shape != (coalitions.shape[1],):
            raise ValueError(f"score_fn({ridge_lambda}) returned shape {list(scores.shape)}, expected [{coalitions.shape[1]}].")
        predictions = additive_predictions(coalitions, scores)
        constant = np.ptp(predictions) == 0 or np.ptp(values) == 0
        correlations.append(np.nan if constant else float(spearmanr(predictions, values)[0]))
        all_scores.append(scores)

    correlations = np.asarray(correlations)
    if np.isnan(correlations).all():
        raise ValueError("Every λ gave constant predictions or the held-out values are constant; no λ can be selected.")
    best = int(np.nanargmax(correlations))
    logger.info("Selected ridge λ=%g (Spearman %.3f on %d held-out coalitions).", lambdas[best], correlations[best], len(values))
    return RidgeSelection(float(lambdas[best]), all_scores[best], [float(x) for x in lambdas], correlations)


def _check_holdout(lambdas: Sequence[float], coalitions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(lambdas) == 0 or min(lambdas) < 0:
        raise ValueError(f"lambdas must be a non-empty list of values >= 0, got {list(lambdas)}.")
    coalitions = np.asarray(coalitions)
    values = np.asarray(values, dtype=np.float64)
    if coalitions.ndim != 2 or coalitions.dtype != bool:
        raise ValueError(f"coalitions must be bool [m, n], got {coalitions.dtype} {list(coalitions.shape)}.")
    if values.shape != (coalitions.shape[0],):
        raise ValueError(f"values must have shape [{coalitions.shape[0]}] (one per coalition), got {list(values.shape)}.")
    if coalitions.shape[0] < 3:
        raise ValueError(f"Spearman needs at least 3 held-out coalitions, got {coalitions.shape[0]}.")
    return coalitions, values
