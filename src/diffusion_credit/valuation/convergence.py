"""Convergence check and forecast for sampled estimates.

A sampled estimate has converged when its largest standard error is small
against the spread of the values::

    ratio = convergence_ratio(values, std)          # max std / (max β − min β)
    ratio < 0.01                                    # converged at the default threshold
    forecast_num_coalitions(ratio, num_coalitions=500, threshold=0.01)

The forecast assumes the standard error falls as `1/√m`, so reaching the
threshold needs `m · (ratio / threshold)²` coalitions in all.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "convergence_ratio", "forecast_num_coalitions", "convergence_summary"]

DEFAULT_THRESHOLD = 0.01
"""Default bound on `max std / (max β − min β)`, the rule of Covert & Lee's shapreg."""


def convergence_ratio(values: np.ndarray, std: np.ndarray) -> float:
    """Return `max std / (max value − min value)`.

    When all values are equal the ratio is 0 if every std is 0 and `inf`
    otherwise, because no finite number of samples separates equal values.

    Args:
        values: float `[n]`.
        std: float `[n]`, non-negative standard errors.
    """
    values = np.asarray(values, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if values.shape != std.shape or values.ndim != 1:
        raise ValueError(f"values and std must both have shape [n], got {values.shape} and {std.shape}.")
    max_std = float(std.max())
    spread = float(values.max() - values.min())
    if spread > 0:
        return max_std / spread
    return 0.0 if max_std == 0 else math.inf


def forecast_num_coalitions(ratio: float, num_coalitions: int, threshold: float = DEFAULT_THRESHOLD) -> int | None:
    """Return the total coalitions needed for the ratio to fall below `threshold`.

    Assumes `std ∝ 1/√m`; returns `num_coalitions` when already converged and
    None when the ratio is infinite.
    """
    if threshold <= 0:
        raise ValueError(f"threshold={threshold} must be positive.")
    if not math.isfinite(ratio):
        return None
    if ratio < threshold:
        return int(num_coalitions)
    return int(math.ceil(num_coalitions * (ratio / threshold) ** 2))


def convergence_summary(
    values: np.ndarray, std: np.ndarray | None, num_coalitions: int, threshold: float = DEFAULT_THRESHOLD
) -> dict:
    """Return `converged`, `convergence_ratio` and `forecast_num_coalitions` (all None without std)."""
    if std is None:
        return {"converged": None, "convergence_ratio": None, "forecast_num_coalitions": None}
    ratio = convergence_ratio(values, std)
    return {
        "converged": bool(ratio < threshold),
        "convergence_ratio": ratio,
        "forecast_num_coalitions": forecast_num_coalitions(ratio, num_coalitions, threshold),
    }
