"""Linear datamodeling score (LDS) of an attribution.

An attribution `τ` predicts the value of a coalition additively,
`g(S) = Σ_{i∈S} τ_i`. The LDS of a set of held-out datamodel coalitions
(retrained from scratch, sizes `round(α·n)`) is the Spearman rank
correlation between their measured values and these predictions::

    from diffusion_credit.evaluation import lds_over_sets

    sets = [(coalitions_0, values_0), (coalitions_1, values_1), (coalitions_2, values_2)]
    result = lds_over_sets(scores, sets)         # scores: float [n]
    result.mean, result.ci_low, result.ci_high   # 95% t-interval over the sets
    result.per_set, result.num_undefined

A set whose values or predictions are all equal has no ranking, so its LDS
is undefined: it is reported as None, counted in `num_undefined` and left
out of the mean.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["LDSResult", "additive_predictions", "cross_fitted_lds", "linear_datamodeling_score", "lds_over_sets"]

logger = logging.getLogger(__name__)

_CONSTANT_TOLERANCE = 1e-12


@dataclass(frozen=True)
class LDSResult:
    """The LDS over independent datamodel sets.

    Attributes:
        mean: mean LDS over the defined sets; None when no set is defined.
        ci_low: lower end of the t-interval of the mean, clipped to -1 (an LDS
            is a rank correlation); None with fewer than two defined sets.
        ci_high: upper end of the t-interval, clipped to 1; None with fewer
            than two defined sets.
        per_set: the LDS of each set in input order, None where undefined.
        num_sets: sets given.
        num_undefined: sets left out because their values or predictions are constant.
        confidence: the interval's confidence level, e.g. 0.95.
    """

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    per_set: tuple[float | None, ...]
    num_sets: int
    num_undefined: int
    confidence: float

    @property
    def num_defined(self) -> int:
        """Sets that entered the mean."""
        return self.num_sets - self.num_undefined

    def __str__(self) -> str:
        if self.mean is None:
            return f"LDS undefined ({self.num_undefined} of {self.num_sets} sets constant)"
        interval = "" if self.ci_low is None else f" [{self.ci_low:.4f}, {self.ci_high:.4f}]"
        skipped = f", {self.num_undefined} undefined" if self.num_undefined else ""
        return f"LDS {self.mean:.4f}{interval} over {self.num_defined} sets{skipped}"


def additive_predictions(scores: np.ndarray, coalitions: np.ndarray) -> np.ndarray:
    """Return `g(S) = Σ_{i∈S} τ_i` for each coalition.

    Args:
        scores: float `[n]`, the attribution `τ`.
        coalitions: bool `[m, n]`.

    Returns:
        float64 `[m]`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    coalitions = np.asarray(coalitions)
    if scores.ndim != 1 or coalitions.ndim != 2 or coalitions.shape[1] != len(scores):
        raise ValueError(
            f"scores [n] and coalitions [m, n] do not match: shapes {scores.shape} and {coalitions.shape}; "
            "the coalitions must use the attribution's contributor order."
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite entries.")
    return coalitions.astype(np.float64) @ scores


def linear_datamodeling_score(scores: np.ndarray, coalitions: np.ndarray, values: np.ndarray) -> float | None:
    """Return the Spearman correlation between coalition values and additive predictions.

    Ties get average ranks. Values or predictions whose spread is below
    `1e-12` times their largest magnitude count as constant.

    Args:
        scores: float `[n]`, the attribution.
        coalitions: bool `[m, n]`, one datamodel set.
        values: float `[m]`, the measured value of each coalition.

    Returns:
        The LDS in `[-1, 1]`, or None when the values or the predictions are constant.
    """
    predictions = additive_predictions(scores, coalitions)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != predictions.shape:
        raise ValueError(f"values has shape {values.shape} but the set has {len(predictions)} coalitions.")
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinite entries; re-evaluate those coalitions or drop them.")
    if len(values) < 2 or _is_constant(values) or _is_constant(predictions):
        return None
    return float(stats.spearmanr(values, predictions).statistic)


def lds_over_sets(
    scores: np.ndarray,
    sets: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    confidence: float = 0.95,
) -> LDSResult:
    """Compute the LDS of each independent set, their mean and its t-interval.

    Args:
        scores: float `[n]`, the attribution.
        sets: `(coalitions bool [m, n], values float [m])` per datamodel set.
        confidence: confidence level of the interval, in `(0, 1)`.

    Returns:
        `LDSResult`; the interval is `mean ± t_{(1+c)/2, k−1} · s / √k` over the
        `k` defined sets.
    """
    if not len(sets):
        raise ValueError("No datamodel sets given; the LDS needs at least one set of evaluated coalitions.")

    per_set = tuple(linear_datamodeling_score(scores, coalitions, values) for coalitions, values in sets)
    return _summarize(per_set, confidence)


def cross_fitted_lds(sets: Sequence[tuple[np.ndarray, np.ndarray]], *, confidence: float = 0.95) -> LDSResult:
    """Compute the LDS of a linear datamodel fitted on the other sets, per held-out set.

    For each set, least squares fits `values ≈ b + Σ_{i∈S} w_i` on the
    coalitions of all other sets, and `w` is scored on the held-out set.
    The result is a reference rather than an attribution: it shows how much
    of the measured values any additive attribution can rank, given as many
    coalitions as the other sets hold.

    Args:
        sets: `(coalitions bool [m, n], values float [m])` per datamodel set, at least two.
        confidence: confidence level of the interval, in `(0, 1)`.
    """
    if len(sets) < 2:
        raise ValueError(f"Cross-fitting needs at least two datamodel sets, got {len(sets)}.")

    per_set = []
    for held_out, (coalitions, values) in enumerate(sets):
        train = [pair for index, pair in enumerate(sets) if index != held_out]
        features = np.concatenate([np.asarray(c, dtype=np.float64) for c, _ in train])
        targets = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in train])
        design = np.column_stack([np.ones(len(features)), features])
        weights = np.linalg.lstsq(design, targets, rcond=None)[0][1:]
        per_set.append(linear_datamodeling_score(weights, coalitions, values))
    return _summarize(tuple(per_set), confidence)


def _summarize(per_set: tuple[float | None, ...], confidence: float) -> LDSResult:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be in (0, 1), e.g. 0.95.")
    defined = np.array([score for score in per_set if score is not None])
    num_undefined = len(per_set) - len(defined)
    if num_undefined:
        logger.warning("%d of %d datamodel sets have constant values or predictions; their LDS is undefined and left out.", num_undefined, len(per_set))

    mean = float(defined.mean()) if len(defined) else None
    ci_low = ci_high = None
    if len(defined) >= 2:
        half_width = stats.t.ppf((1 + confidence) / 2, len(defined) - 1) * defined.std(ddof=1) / np.sqrt(len(defined))
        ci_low, ci_high = max(-1.0, mean - half_width), min(1.0, mean + half_width)
    return LDSResult(mean, ci_low, ci_high, per_set, len(per_set), num_undefined, confidence)


def _is_constant(array: np.ndarray) -> bool:
    scale = max(float(np.abs(array).max()), np.finfo(np.float64).tiny)
    return float(np.ptp(array)) <= _CONSTANT_TOLERANCE * scale
