"""Banzhaf values by maximum sample reuse, and leave-one-out differences.

Banzhaf MSR (maximum sample reuse) uses every uniformly sampled coalition
for every contributor, once as "with i" or as "without i"::

    coalitions = sample_uniform(n, 500, seed=0)
    values = np.array([v(row) for row in coalitions])
    banzhaf_msr(coalitions, values).values    # mean v with i in S − mean v with i not in S

Leave-one-out is `v(N) − v(N∖{i})`, read from the coalitions `N∖{i}` in any
order::

    coalitions = leave_one_out_coalitions(n)
    leave_one_out(coalitions, np.array([v(row) for row in coalitions]), v_full=v(all)).values
"""

from __future__ import annotations

import logging

import numpy as np

from .convergence import DEFAULT_THRESHOLD, convergence_summary
from .result import ValuationResult

__all__ = ["banzhaf_msr", "leave_one_out"]

logger = logging.getLogger(__name__)


def banzhaf_msr(coalitions: np.ndarray, values: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD) -> ValuationResult:
    """Estimate Banzhaf values by maximum sample reuse.

    `φ_i = mean(v(S) : i ∈ S) − mean(v(S) : i ∉ S)` over coalitions drawn
    uniformly (`sample_uniform`). The std of each value is the standard error
    of that difference of means, `√(s²_in / m_in + s²_out / m_out)`.

    Args:
        coalitions: bool `[m, n]` uniform coalitions (empty and full included
            when they were drawn).
        values: float `[m]`, `v` of each coalition.
        threshold: convergence threshold on `max std / (max φ − min φ)`.

    Returns:
        `ValuationResult` with estimator `banzhaf_msr`; `extra["counts_in"]`
        and `extra["counts_out"]` hold int `[n]` sample counts.

    Raises:
        ValueError: when some contributor is in fewer than two or out of fewer
            than two coalitions (its mean or std would be undefined).
    """
    coalitions, values = _check_rows(coalitions, values)
    members = coalitions.astype(np.float64)
    counts_in = coalitions.sum(axis=0)
    counts_out = len(coalitions) - counts_in
    short = np.flatnonzero((counts_in < 2) | (counts_out < 2))
    if len(short):
        raise ValueError(
            f"Banzhaf MSR needs every contributor in at least 2 and out of at least 2 coalitions, but contributor "
            f"{short[0]} is in {counts_in[short[0]]} and out of {counts_out[short[0]]} of {len(coalitions)} "
            f"({len(short)} such contributors); sample more uniform coalitions."
        )

    # Centre first so the sums of squares do not cancel for values far from 0.
    centred = values - values.mean()
    sum_in = centred @ members
    sum_out = centred.sum() - sum_in
    mean_in, mean_out = sum_in / counts_in, sum_out / counts_out
    square_in = (centred**2) @ members
    square_out = (centred**2).sum() - square_in
    var_in = np.maximum(square_in - counts_in * mean_in**2, 0) / (counts_in - 1)
    var_out = np.maximum(square_out - counts_out * mean_out**2, 0) / (counts_out - 1)

    estimate = mean_in - mean_out
    std = np.sqrt(var_in / counts_in + var_out / counts_out)
    return ValuationResult(
        values=estimate,
        std=std,
        estimator="banzhaf_msr",
        num_coalitions=len(values),
        **convergence_summary(estimate, std, len(values), threshold),
        extra={"counts_in": counts_in, "counts_out": counts_out},
    )


def leave_one_out(coalitions: np.ndarray, values: np.ndarray, v_full: float) -> ValuationResult:
    """Compute leave-one-out scores `v(N) − v(N∖{i})`.

    Rows that are not of the form `N∖{i}` are ignored. A coalition given
    several times (e.g. repeated evaluations) contributes the mean of its values.

    Args:
        coalitions: bool `[m, n]` containing every `N∖{i}` at least once.
        values: float `[m]`.
        v_full: `v(N)`.

    Returns:
        `ValuationResult` with estimator `loo`, `std=None`, and
        `extra["repeats"]` int `[n]`, the evaluations of each `N∖{i}`.

    Raises:
        ValueError: when some `N∖{i}` is missing.
    """
    coalitions, values = _check_rows(coalitions, values)
    if not np.isfinite(v_full):
        raise ValueError(f"v_full={v_full} is not finite.")
    num_contributors = coalitions.shape[1]
    leave_one_out_rows = (~coalitions).sum(axis=1) == 1
    left_out = np.argmin(coalitions[leave_one_out_rows], axis=1)
    kept_values = values[leave_one_out_rows]

    repeats = np.bincount(left_out, minlength=num_contributors)
    missing = np.flatnonzero(repeats == 0)
    if len(missing):
        raise ValueError(
            f"Leave-one-out needs the coalition N∖{{i}} of every contributor, but {len(missing)} are missing "
            f"(contributor positions {missing[:5].tolist()}); evaluate, for each, the coalition of all contributors but that one."
        )
    if len(coalitions) > len(left_out):
        logger.debug("Ignored %d coalitions that do not leave out exactly one contributor.", len(coalitions) - len(left_out))

    mean_without = np.bincount(left_out, weights=kept_values, minlength=num_contributors) / repeats
    return ValuationResult(
        values=v_full - mean_without,
        std=None,
        estimator="loo",
        num_coalitions=int(repeats.sum()) + 1,
        extra={"repeats": repeats, "v_full": float(v_full)},
    )


def _check_rows(coalitions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a coalition matrix and its values; return them as bool [m, n] and float64 [m]."""
    coalitions = np.asarray(coalitions)
    if coalitions.ndim != 2:
        raise ValueError(f"coalitions must be a [m, n] matrix, got shape {coalitions.shape}.")
    if coalitions.dtype != bool:
        if not np.isin(coalitions, (0, 1)).all():
            raise ValueError("coalitions must hold booleans or 0/1 entries.")
        coalitions = coalitions.astype(bool)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(coalitions),):
        raise ValueError(f"values has shape {values.shape} but there are {len(coalitions)} coalitions; give one value per row.")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(f"values[{bad[0]}] = {values[bad[0]]} is not finite ({len(bad)} such rows); re-evaluate or drop those coalitions.")
    return coalitions, values
