"""Plan and solve a study's valuation from its `ValuationConfig`.

The config's `estimator` fixes both the coalitions to evaluate and the
estimator that turns their values into scores::

    planned = plan_coalitions(config.valuation, num_contributors=len(contributors))
    evaluated = {"0110...": 2.31, ...}                  # bitstring -> v(S), from the run store
    values = lookup_values(planned, evaluated)          # [m], in the planned order
    result = estimate(config.valuation, planned, values, v_empty=v0, v_full=v1)

| estimator    | coalitions planned                        | result            |
|--------------|-------------------------------------------|-------------------|
| `kernelshap` | Shapley kernel, `num_coalitions`, `paired`| KernelSHAP + std  |
| `exact`      | all `2^n` (n ≤ 20)                        | exact Shapley     |
| `banzhaf`    | uniform, `num_coalitions`                 | Banzhaf MSR + std |
| `loo`        | the `n` coalitions `N∖{i}`                | leave-one-out     |

Keep the planned order when solving: paired KernelSHAP reads rows `2j` and
`2j + 1` as complements and batches contiguous rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..config import ValuationConfig
from .exact import exact_shapley
from .kernelshap import kernel_shap
from .result import ValuationResult
from .samplers import (
    coalition_to_bits,
    enumerate_coalitions,
    leave_one_out_coalitions,
    sample_shapley_kernel,
    sample_uniform,
)
from .semivalues import banzhaf_msr, leave_one_out

__all__ = ["ESTIMATORS", "plan_coalitions", "lookup_values", "estimate"]

ESTIMATORS = ("kernelshap", "exact", "banzhaf", "loo")


def plan_coalitions(config: ValuationConfig, num_contributors: int) -> np.ndarray:
    """Return the coalitions the configured estimator needs, bool `[m, n]`, in solving order.

    The plan is a pure function of `config` and `num_contributors`, and the
    empty and full coalitions appear only where the estimator reads them from
    the rows (`exact`, and `banzhaf` when drawn).
    """
    _check_estimator(config.estimator)
    if config.estimator == "kernelshap":
        return sample_shapley_kernel(num_contributors, config.num_coalitions, seed=config.seed, paired=config.paired)
    if config.estimator == "exact":
        return enumerate_coalitions(num_contributors)
    if config.estimator == "banzhaf":
        return sample_uniform(num_contributors, config.num_coalitions, seed=config.seed)
    return leave_one_out_coalitions(num_contributors)


def lookup_values(coalitions: np.ndarray, evaluated: Mapping[str, float]) -> np.ndarray:
    """Return the value of each planned coalition from a bitstring → value mapping.

    Args:
        coalitions: bool `[m, n]`, e.g. from `plan_coalitions`.
        evaluated: `v(S)` by coalition bitstring (character `i` for contributor `i`).

    Returns:
        float64 `[m]`; a coalition planned twice gets its value twice.

    Raises:
        KeyError: naming how many planned coalitions have no value, with examples.
    """
    bits = [coalition_to_bits(row) for row in coalitions]
    missing = sorted({key for key in bits if key not in evaluated})
    if missing:
        raise KeyError(
            f"{len(missing)} of the {len(set(bits))} planned coalitions have no value (e.g. {', '.join(missing[:3])}); "
            "evaluate them first."
        )
    return np.array([float(evaluated[key]) for key in bits])


def estimate(
    config: ValuationConfig,
    coalitions: np.ndarray,
    values: np.ndarray,
    *,
    v_empty: float,
    v_full: float,
) -> ValuationResult:
    """Solve the configured estimator on evaluated coalitions.

    Args:
        config: the study's valuation section.
        coalitions: bool `[m, n]` in the planned order.
        values: float `[m]`.
        v_empty: `v(∅)`.
        v_full: `v(N)`.
    """
    _check_estimator(config.estimator)
    if config.estimator == "kernelshap":
        return kernel_shap(
            coalitions,
            values,
            v_empty,
            v_full,
            paired=config.paired,
            uncertainty=config.uncertainty,
            num_batches=config.num_batches,
            num_bootstrap=config.num_bootstrap,
            seed=config.seed,
            threshold=config.convergence_threshold,
        )
    if config.estimator == "exact":
        table = {coalition_to_bits(row): float(value) for row, value in zip(coalitions, values)}
        num_contributors = np.asarray(coalitions).shape[1]
        table["0" * num_contributors] = float(v_empty)
        table["1" * num_contributors] = float(v_full)
        return exact_shapley(table, num_contributors)
    if config.estimator == "banzhaf":
        return banzhaf_msr(coalitions, values, threshold=config.convergence_threshold)
    return leave_one_out(coalitions, values, v_full)


def _check_estimator(name: str) -> None:
    if name not in ESTIMATORS:
        raise ValueError(f"valuation.estimator={name!r} is not one of {', '.join(ESTIMATORS)}.")
