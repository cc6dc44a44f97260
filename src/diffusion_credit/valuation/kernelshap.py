"""KernelSHAP: Shapley values from sampled coalitions by constrained least squares.

Sample coalitions from the Shapley kernel, evaluate `v` on each, then solve::

    from diffusion_credit.valuation import kernel_shap, sample_shapley_kernel

    coalitions = sample_shapley_kernel(n, 200, seed=0, paired=True)
    values = np.array([v(row) for row in coalitions])
    result = kernel_shap(coalitions, values, v_empty=v(none), v_full=v(all), paired=True)
    result.values, result.std, result.converged

The estimator is the efficiency-constrained closed form of Covert & Lee
(2021, "Improving KernelSHAP")::

    A = mean(z zᵀ),  b = mean(z (v(z) − v(∅))),
    β = A⁻¹ (b − 1 (1ᵀA⁻¹b − v(N) + v(∅)) / (1ᵀA⁻¹1)),

so the values sum to `v(N) − v(∅)`. No regularisation, no feature selection.

Weighting:

- `weights=None` (default): the coalitions were drawn from the Shapley
  kernel (`sample_shapley_kernel`), so every row counts once.
- `weights="kernel"`: arbitrary coalitions (e.g. all of them from
  `enumerate_coalitions`), each weighted by its Shapley kernel weight; with
  every coalition present this is the exact Shapley value.
- an array `[m]`: your own non-negative weights.

Empty and full rows are dropped from the regression, because their kernel
weight is infinite and they enter through `v_empty` and `v_full`. A
coalition that appears twice counts twice, as in sampling with replacement.

Uncertainty (`uncertainty=`):

- `"batches"` (default): the rows are split into `num_batches` contiguous
  batches (complement pairs kept together when `paired=True`), each batch is
  solved alone and the std across batches is scaled to the full estimate by
  `√(m_batch / m)`.
- `"bootstrap"`: `num_bootstrap` resamples of the rows (pairs kept together);
  one pass over the data per resample, so for small problems.
- `"none"`: values only.

When too few distinct coalitions are present the system is singular;
`InsufficientCoalitionsError` then states how many there are and how many more
are needed, instead of returning NaN.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .convergence import DEFAULT_THRESHOLD, convergence_summary
from .result import ValuationResult
from .samplers import shapley_kernel_weights
from .semivalues import _check_rows

__all__ = ["InsufficientCoalitionsError", "kernel_shap", "solve_constrained", "UNCERTAINTY_METHODS"]

logger = logging.getLogger(__name__)

UNCERTAINTY_METHODS = ("batches", "bootstrap", "none")

_CHUNK_ELEMENTS = 1 << 22


class InsufficientCoalitionsError(ValueError):
    """The coalitions do not determine the Shapley values (singular system)."""


@dataclass
class _Moments:
    """Weighted sums over a block of rows: `Σw`, `Σ w z zᵀ` and `Σ w z y`."""

    weight: float
    gram: np.ndarray
    moment: np.ndarray

    def __add__(self, other: "_Moments") -> "_Moments":
        return _Moments(self.weight + other.weight, self.gram + other.gram, self.moment + other.moment)


def kernel_shap(
    coalitions: np.ndarray,
    values: np.ndarray,
    v_empty: float,
    v_full: float,
    *,
    weights: np.ndarray | str | None = None,
    paired: bool = False,
    uncertainty: str = "batches",
    num_batches: int = 4,
    num_bootstrap: int = 100,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> ValuationResult:
    """Estimate Shapley values by efficiency-constrained KernelSHAP.

    Args:
        coalitions: bool `[m, n]`, row `j` the coalition whose value is `values[j]`.
        values: float `[m]`, `v` of each coalition (e.g. the property of the
            model fine-tuned on that coalition).
        v_empty: `v(∅)`, the value of the empty coalition.
        v_full: `v(N)`, the value of the full coalition.
        weights: None for coalitions drawn from the Shapley kernel, `"kernel"`
            to weight arbitrary coalitions by the Shapley kernel, or float `[m]`.
        paired: rows `2j` and `2j + 1` are complements (as `sample_shapley_kernel(
            paired=True)` returns them) and stay in the same batch or resample.
        uncertainty: `"batches"`, `"bootstrap"` or `"none"`.
        num_batches: batches for `"batches"`, at least 2.
        num_bootstrap: resamples for `"bootstrap"`, at least 2.
        seed: seed of the bootstrap resampling.
        threshold: convergence threshold on `max std / (max β − min β)`.

    Returns:
        `ValuationResult` with estimator `kernelshap`; `extra` contains
        `num_distinct`, `num_trivial_dropped`, `rank`, `v_empty`, `v_full`,
        `weighting`, `uncertainty` and `num_batches` or `num_bootstrap`.

    Raises:
        ValueError: on mismatched shapes, non-finite values, invalid weights or
            options, or `paired=True` with rows that are not complement pairs.
        InsufficientCoalitionsError: when the coalitions do not determine the
            values. When only a batch or a resample falls short, the values are
            returned with `std=None`, a `RuntimeWarning` and the reason in
            `extra["uncertainty_error"]`.
    """
    coalitions, values = _check_inputs(coalitions, values, v_empty, v_full)
    _check_options(uncertainty, num_batches, num_bootstrap, threshold)
    row_weights, weighting = _row_weights(coalitions, weights)
    units = _sampling_units(coalitions, paired)

    # Drop the empty and full rows: they enter through v_empty and v_full.
    sizes = coalitions.sum(axis=1)
    keep = (sizes > 0) & (sizes < coalitions.shape[1])
    num_trivial = int((~keep).sum())
    if num_trivial:
        logger.info("Dropped %d empty or full coalitions from the KernelSHAP regression.", num_trivial)
    coalitions, targets, row_weights, units = (
        coalitions[keep],
        values[keep] - v_empty,
        row_weights[keep],
        units[keep],
    )
    if not len(coalitions):
        raise _insufficient(coalitions.shape[1], num_trivial, 0, 1, where="only empty or full coalitions")

    total = v_full - v_empty
    batch_bounds = [(0, len(coalitions))]
    if uncertainty == "batches":
        batch_bounds = _batch_bounds(units, num_batches)
    batch_moments = [_moments(coalitions[start:stop], targets[start:stop], row_weights[start:stop]) for start, stop in batch_bounds]
    full = batch_moments[0]
    for moments in batch_moments[1:]:
        full = full + moments

    num_distinct = _count_distinct(coalitions)
    estimate, rank = _solve_or_raise(full, total, len(values), num_distinct, paired)

    std, extra = _estimate_std(
        uncertainty, coalitions, targets, row_weights, units, total, batch_moments, batch_bounds, num_batches, num_bootstrap, seed
    )
    extra.update(
        num_distinct=num_distinct,
        num_trivial_dropped=num_trivial,
        rank=rank,
        v_empty=float(v_empty),
        v_full=float(v_full),
        weighting=weighting,
        uncertainty=uncertainty,
        paired=paired,
    )
    return ValuationResult(
        values=estimate,
        std=std,
        estimator="kernelshap",
        num_coalitions=len(values),
        **convergence_summary(estimate, std, len(values), threshold),
        extra=extra,
    )


def solve_constrained(gram: np.ndarray, moment: np.ndarray, total: float) -> tuple[np.ndarray | None, int]:
    """Solve `min βᵀAβ − 2bᵀβ` subject to `1ᵀβ = total` (the KernelSHAP system).

    Adding `11ᵀ` to `A` changes only the Lagrange multiplier, not `β`, and
    makes the matrix invertible exactly when the constrained problem has one
    solution. So this applies the closed form
    `β = A'⁻¹ (b − 1 (1ᵀA'⁻¹b − total) / (1ᵀA'⁻¹1))` with `A' = A + 11ᵀ`,
    which equals the one with `A` whenever `A` itself is invertible.

    Args:
        gram: float64 `[n, n]`, `A = mean(w z zᵀ)`.
        moment: float64 `[n]`, `b = mean(w z (v(z) − v(∅)))`.
        total: `v(N) − v(∅)`.

    Returns:
        `(β, rank)` with `β` float64 `[n]` and `rank` the rank of `A'`; `β`
        is None when `rank < n` (not identifiable).
    """
    num_contributors = len(moment)
    ones = np.ones(num_contributors)
    shifted = gram + np.outer(ones, ones)
    rank = int(np.linalg.matrix_rank(shifted, hermitian=True))
    if rank < num_contributors:
        return None, rank

    solved = np.linalg.solve(shifted, np.column_stack([moment, ones]))
    inverse_moment, inverse_ones = solved[:, 0], solved[:, 1]
    beta = inverse_moment - inverse_ones * (inverse_moment.sum() - total) / inverse_ones.sum()

    # Spread the rounding residue of the constraint evenly, so Σβ = total.
    beta += (total - beta.sum()) / num_contributors
    return beta, rank


def _solve_or_raise(moments: _Moments, total: float, num_rows: int, num_distinct: int, paired: bool) -> tuple[np.ndarray, int]:
    beta, rank = solve_constrained(moments.gram / moments.weight, moments.moment / moments.weight, total)
    if beta is None:
        raise _insufficient(len(moments.moment), num_rows, num_distinct, rank, where="the coalitions", paired=paired)
    return beta, rank


def _estimate_std(
    uncertainty: str,
    coalitions: np.ndarray,
    targets: np.ndarray,
    row_weights: np.ndarray,
    units: np.ndarray,
    total: float,
    batch_moments: list[_Moments],
    batch_bounds: list[tuple[int, int]],
    num_batches: int,
    num_bootstrap: int,
    seed: int,
) -> tuple[np.ndarray | None, dict]:
    # The values are determined, but a batch or resample may not be: then
    # the std is left out with a warning rather than failing the estimate.
    extra: dict = {}
    try:
        if uncertainty == "batches":
            extra["num_batches"] = num_batches
            if len(batch_bounds) < num_batches:
                raise InsufficientCoalitionsError(
                    f"num_batches={num_batches} exceeds the {len(batch_bounds)} sampling units (coalitions, or "
                    "complement pairs when paired); use fewer batches or more coalitions."
                )
            return _batch_std(batch_moments, batch_bounds, total, len(coalitions)), extra
        if uncertainty == "bootstrap":
            extra["num_bootstrap"] = num_bootstrap
            std, extra["num_bootstrap_used"] = _bootstrap_std(
                coalitions, targets, row_weights, units, total, num_bootstrap, seed
            )
            return std, extra
    except InsufficientCoalitionsError as error:
        warnings.warn(f"KernelSHAP values have no std: {error}", RuntimeWarning, stacklevel=3)
        extra["uncertainty_error"] = str(error)
    return None, extra


def _batch_std(batch_moments: list[_Moments], batch_bounds: list[tuple[int, int]], total: float, num_rows: int) -> np.ndarray:
    estimates = []
    for index, (moments, (start, stop)) in enumerate(zip(batch_moments, batch_bounds)):
        beta, rank = None, 0
        if moments.weight > 0:
            beta, rank = solve_constrained(moments.gram / moments.weight, moments.moment / moments.weight, total)
        if beta is None:
            raise InsufficientCoalitionsError(
                f"Batch {index} of {len(batch_bounds)} ({stop - start} coalitions) does not determine the "
                f"{len(moments.moment)} values (rank {rank} < {len(moments.moment)}), so the batch std is undefined. "
                f"Use fewer batches (each needs at least {len(moments.moment) - 1} distinct coalitions, or as many "
                "complement pairs when paired), more coalitions, or uncertainty='none'."
            )
        estimates.append(beta)
    mean_batch_rows = num_rows / len(batch_bounds)
    return np.std(estimates, axis=0, ddof=1) * np.sqrt(mean_batch_rows / num_rows)


def _bootstrap_std(
    coalitions: np.ndarray,
    targets: np.ndarray,
    row_weights: np.ndarray,
    units: np.ndarray,
    total: float,
    num_bootstrap: int,
    seed: int,
) -> tuple[np.ndarray, int]:
    # A resample keeps about 63% of the distinct sampling units, so with few
    # coalitions some resamples cannot determine the values. Those are left
    # out; the std is then conditional on an identifiable resample.
    # NOTE: that conditioning understates the std somewhat when many
    # resamples are left out, hence the requirement of a majority below.
    rng = np.random.default_rng(seed)
    unit_ids, unit_of_row = np.unique(units, return_inverse=True)
    estimates = []
    for _ in range(num_bootstrap):
        counts = rng.multinomial(len(unit_ids), np.full(len(unit_ids), 1 / len(unit_ids)))
        moments = _moments(coalitions, targets, row_weights * counts[unit_of_row])
        beta, _ = solve_constrained(moments.gram / moments.weight, moments.moment / moments.weight, total)
        if beta is not None:
            estimates.append(beta)

    if len(estimates) < max(2, num_bootstrap // 2):
        raise InsufficientCoalitionsError(
            f"Only {len(estimates)} of {num_bootstrap} bootstrap resamples of {len(unit_ids)} sampling units "
            f"determine the {coalitions.shape[1]} values; a resample keeps about 63% of the distinct coalitions, "
            "so add coalitions or use uncertainty='none'."
        )
    return np.std(estimates, axis=0, ddof=1), len(estimates)


def _moments(coalitions: np.ndarray, targets: np.ndarray, row_weights: np.ndarray) -> _Moments:
    # Accumulate in row chunks so a [chunk, n] float64 block is the largest
    # temporary, whatever m is.
    num_contributors = coalitions.shape[1]
    gram = np.zeros((num_contributors, num_contributors))
    moment = np.zeros(num_contributors)
    chunk_rows = max(1, _CHUNK_ELEMENTS // num_contributors)
    for start in range(0, len(coalitions), chunk_rows):
        block = coalitions[start : start + chunk_rows].astype(np.float64)
        weighted = block * row_weights[start : start + chunk_rows, None]
        gram += block.T @ weighted
        moment += weighted.T @ targets[start : start + chunk_rows]
    return _Moments(float(row_weights.sum()), gram, moment)


def _batch_bounds(units: np.ndarray, num_batches: int) -> list[tuple[int, int]]:
    # Units (single rows, or complement pairs) are contiguous in row order, so
    # contiguous runs of units are independent batches of i.i.d. draws.
    # With fewer units than batches this returns one batch per unit, and the
    # caller reports that the batch std is unavailable.
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    groups = np.array_split(np.arange(len(starts)), min(num_batches, len(starts)))
    stops = np.r_[starts[1:], len(units)]
    return [(int(starts[group[0]]), int(stops[group[-1]])) for group in groups]


def _sampling_units(coalitions: np.ndarray, paired: bool) -> np.ndarray:
    num_rows = len(coalitions)
    if not paired:
        return np.arange(num_rows)
    if num_rows % 2:
        raise ValueError(f"paired=True needs complement pairs in rows (2j, 2j+1), but there are {num_rows} rows (odd).")
    mismatched = np.flatnonzero((coalitions[0::2] == coalitions[1::2]).any(axis=1))
    if len(mismatched):
        raise ValueError(
            f"paired=True but rows {2 * mismatched[0]} and {2 * mismatched[0] + 1} are not complements "
            f"({len(mismatched)} such pairs); keep the order of sample_shapley_kernel(paired=True) or pass paired=False."
        )
    return np.arange(num_rows) // 2


def _row_weights(coalitions: np.ndarray, weights: np.ndarray | str | None) -> tuple[np.ndarray, str]:
    if weights is None:
        return np.ones(len(coalitions)), "sampled"
    if isinstance(weights, str):
        if weights != "kernel":
            raise ValueError(f"weights={weights!r} is not supported; use None, 'kernel' or a float array [m].")
        return shapley_kernel_weights(coalitions), "kernel"

    row_weights = np.asarray(weights, dtype=np.float64)
    if row_weights.shape != (len(coalitions),):
        raise ValueError(f"weights has shape {row_weights.shape} but there are {len(coalitions)} coalitions.")
    sizes = coalitions.sum(axis=1)
    inner = (sizes > 0) & (sizes < coalitions.shape[1])
    if not np.isfinite(row_weights[inner]).all() or (row_weights[inner] < 0).any():
        raise ValueError("weights of non-empty, non-full coalitions must be finite and non-negative.")
    if inner.any() and not row_weights[inner].sum() > 0:
        raise ValueError("weights of the non-empty, non-full coalitions are all zero; give at least one a positive weight.")
    return row_weights, "custom"


def _check_inputs(coalitions: np.ndarray, values: np.ndarray, v_empty: float, v_full: float) -> tuple[np.ndarray, np.ndarray]:
    coalitions, values = _check_rows(coalitions, values)
    if coalitions.shape[1] < 2:
        raise ValueError(f"coalitions must be a [m, n] matrix with n >= 2 contributors, got shape {coalitions.shape}.")
    for name, value in (("v_empty", v_empty), ("v_full", v_full)):
        if not np.isfinite(value):
            raise ValueError(f"{name}={value} is not finite.")
    return coalitions, values


def _check_options(uncertainty: str, num_batches: int, num_bootstrap: int, threshold: float) -> None:
    if uncertainty not in UNCERTAINTY_METHODS:
        raise ValueError(f"uncertainty={uncertainty!r} is not one of {', '.join(UNCERTAINTY_METHODS)}.")
    if uncertainty == "batches" and num_batches < 2:
        raise ValueError(f"num_batches={num_batches}; the batch std needs at least 2 batches (or uncertainty='none').")
    if uncertainty == "bootstrap" and num_bootstrap < 2:
        raise ValueError(f"num_bootstrap={num_bootstrap}; the bootstrap std needs at least 2 resamples.")
    if threshold <= 0:
        raise ValueError(f"threshold={threshold} must be positive.")


def _count_distinct(coalitions: np.ndarray) -> int:
    packed = np.packbits(coalitions, axis=1)
    return len(np.unique(packed, axis=0))


def _insufficient(
    num_contributors: int, num_rows: int, num_distinct: int, rank: int, where: str, paired: bool = False
) -> InsufficientCoalitionsError:
    # rank is that of A + 11ᵀ, so n − rank more independent directions are needed.
    missing = num_contributors - rank
    if paired:
        need = (
            f"A complement pair adds one direction, so at least {num_contributors - 1} distinct pairs "
            f"({2 * (num_contributors - 1)} coalitions) are needed; add at least {missing} more {'pair' if missing == 1 else 'pairs'}"
        )
    else:
        need = (
            f"The coalitions must be linearly independent as 0/1 vectors, at least {num_contributors - 1} of them, so add "
            f"at least {missing} more that {'is not a combination' if missing == 1 else 'are not combinations'} of these"
        )
    return InsufficientCoalitionsError(
        f"KernelSHAP cannot determine {num_contributors} values from {where}: {num_rows} coalitions, "
        f"{num_distinct} distinct non-empty non-full ones, rank {rank} of {num_contributors}. "
        f"{need} (sample more coalitions from the Shapley kernel)."
    )
