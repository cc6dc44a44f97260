"""LDS as a function of compute: the budget curve.

Solve the estimator on growing prefixes of the sampled coalition sequence
and score each prefix's attribution by LDS. Cost is in units of one full
retrain plus one inference run, so methods with different per-coalition
costs share one axis::

    from functools import partial
    from diffusion_credit.evaluation import lds_budget_curve
    from diffusion_credit.valuation import kernel_shap

    curve = lds_budget_curve(
        coalitions, values, datamodel_sets,
        estimate=partial(kernel_shap, v_empty=v0, v_full=v1, paired=True, uncertainty="none"),
        prefix_sizes=[16, 32, 64, 128],
        coalition_cost=sft_seconds / (retrain_seconds + inference_seconds),
        base_cost=setup_seconds / (retrain_seconds + inference_seconds),
    )
    [(point.num_coalitions, point.cost, point.lds.mean) for point in curve if point.lds]

Keep prefix sizes even for paired coalitions. A prefix too small to
determine the values gets `lds=None` and the estimator's message in `error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .lds import LDSResult, lds_over_sets

__all__ = ["BudgetPoint", "lds_budget_curve"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BudgetPoint:
    """One point of the budget curve.

    Attributes:
        num_coalitions: length of the prefix of the sampled sequence.
        cost: `base_cost` plus the cost of the prefix's coalitions, in units of
            one retrain plus one inference run.
        lds: the LDS of the prefix's attribution, None when it could not be solved.
        error: the estimator's message when `lds` is None.
    """

    num_coalitions: int
    cost: float
    lds: LDSResult | None
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        """Return a flat dict for a CSV row (`lds_mean`, `lds_ci_low`, `lds_ci_high` None when absent)."""
        lds = self.lds
        return {
            "num_coalitions": self.num_coalitions,
            "cost": self.cost,
            "lds_mean": None if lds is None else lds.mean,
            "lds_ci_low": None if lds is None else lds.ci_low,
            "lds_ci_high": None if lds is None else lds.ci_high,
            "error": self.error,
        }


def lds_budget_curve(
    coalitions: np.ndarray,
    values: np.ndarray,
    datamodel_sets: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    estimate: Callable[[np.ndarray, np.ndarray], Any],
    prefix_sizes: Sequence[int],
    coalition_cost: float | np.ndarray = 1.0,
    base_cost: float = 0.0,
    confidence: float = 0.95,
) -> list[BudgetPoint]:
    """Compute the LDS of the attribution solved on each prefix of the coalitions.

    Args:
        coalitions: bool `[m, n]` in sampling order.
        values: float `[m]`.
        datamodel_sets: `(coalitions bool [k, n], values float [k])` per held-out set.
        estimate: `estimate(coalitions, values)` returning scores `[n]` or an
            object with `.values` (a `ValuationResult`).
        prefix_sizes: increasing prefix lengths in `1..m`.
        coalition_cost: the cost of one coalition evaluation in units of one
            retrain plus one inference run; a float, or float `[m]` per coalition.
        base_cost: the fixed cost before any coalition (e.g. training and
            pruning the full model), in the same unit.
        confidence: confidence level of the LDS interval.

    Returns:
        One `BudgetPoint` per prefix size, in order.
    """
    coalitions = np.asarray(coalitions)
    values = np.asarray(values, dtype=np.float64)
    if coalitions.ndim != 2 or values.shape != (len(coalitions),):
        raise ValueError(f"coalitions [m, n] and values [m] do not match: shapes {coalitions.shape} and {values.shape}.")
    cumulative_cost = base_cost + np.cumsum(_per_coalition_cost(coalition_cost, len(coalitions)))
    sizes = _check_prefix_sizes(prefix_sizes, len(coalitions))

    points = []
    for size in sizes:
        cost = float(cumulative_cost[size - 1])
        try:
            result = estimate(coalitions[:size], values[:size])
        except ValueError as error:
            logger.warning("Budget curve: the estimator failed on the first %d coalitions: %s", size, error)
            points.append(BudgetPoint(size, cost, None, str(error)))
            continue
        scores = getattr(result, "values", result)
        points.append(BudgetPoint(size, cost, lds_over_sets(scores, datamodel_sets, confidence=confidence)))
    return points


def _per_coalition_cost(coalition_cost: float | np.ndarray, num_coalitions: int) -> np.ndarray:
    costs = np.asarray(coalition_cost, dtype=np.float64)
    if costs.ndim == 0:
        costs = np.full(num_coalitions, float(costs))
    if costs.shape != (num_coalitions,):
        raise ValueError(f"coalition_cost has shape {costs.shape}; give one float or one cost per coalition ({num_coalitions}).")
    if not np.isfinite(costs).all() or (costs < 0).any():
        raise ValueError("coalition_cost must be finite and non-negative (units of one retrain plus one inference run).")
    return costs


def _check_prefix_sizes(prefix_sizes: Sequence[int], num_coalitions: int) -> list[int]:
    sizes = [int(size) for size in prefix_sizes]
    if not sizes:
        raise ValueError("prefix_sizes is empty; give the numbers of coalitions to evaluate the LDS at, e.g. [16, 32, 64].")
    if any(size < 1 or size > num_coalitions for size in sizes):
        raise ValueError(f"prefix_sizes {sizes} must lie in 1..{num_coalitions} (the coalitions given).")
    if any(later <= earlier for earlier, later in zip(sizes, sizes[1:])):
        raise ValueError(f"prefix_sizes {sizes} must be strictly increasing.")
    return sizes
