"""Seeded coalition samplers over the study's contributor order.

Every sampler returns a boolean matrix `[m, n]`: row `j` is coalition `j`,
column `i` is contributor `i` (the `i`-th name of the study's contributor
list). The same `seed` always gives the same matrix, and a larger draw with
the same seed starts with the smaller one (prefix stability), so a study can
be extended with more coalitions and the coalitions already evaluated are
reused::

    from diffusion_credit.valuation import sample_shapley_kernel, coalition_to_bits

    coalitions = sample_shapley_kernel(num_contributors=20, num_coalitions=64, seed=0, paired=True)
    bits = [coalition_to_bits(row) for row in coalitions]   # "0110...", the run-store tag

Which sampler goes with which estimator:

- `sample_shapley_kernel`: KernelSHAP (sizes `k` with `p(k) ∝ (n−1)/(k(n−k))`).
- `sample_uniform`: Banzhaf by maximum sample reuse (each contributor in with
  probability 1/2).
- `leave_one_out_coalitions`: leave-one-out, the `n` coalitions `N∖{i}`.
- `sample_datamodel_sets`: LDS evaluation coalitions of size `round(α·n)`.
- `enumerate_coalitions`: all `2^n` coalitions, for exact values (n ≤ 20).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

__all__ = [
    "MAX_ENUMERATION_CONTRIBUTORS",
    "shapley_kernel_size_probabilities",
    "shapley_kernel_weights",
    "sample_shapley_kernel",
    "sample_uniform",
    "leave_one_out_coalitions",
    "datamodel_coalition_size",
    "sample_datamodel_sets",
    "enumerate_coalitions",
    "coalition_to_bits",
    "bits_to_coalition",
]

logger = logging.getLogger(__name__)

MAX_ENUMERATION_CONTRIBUTORS = 20
"""Largest `n` for which all `2^n` coalitions are enumerated (about a million rows)."""

_CHUNK_ROWS = 4096


def shapley_kernel_size_probabilities(num_contributors: int) -> np.ndarray:
    """Return the Shapley-kernel distribution of coalition sizes.

    Args:
        num_contributors: `n ≥ 2`.

    Returns:
        float64 `[n − 1]`; entry `k − 1` is `p(k) ∝ (n − 1) / (k (n − k))` for
        sizes `k = 1..n−1`, normalised to sum to 1.
    """
    _check_kernel_size(num_contributors)
    sizes = np.arange(1, num_contributors, dtype=np.float64)
    weights = (num_contributors - 1) / (sizes * (num_contributors - sizes))
    return weights / weights.sum()


def shapley_kernel_weights(coalitions: np.ndarray) -> np.ndarray:
    """Return the Shapley kernel weight of each coalition.

    The weight of a coalition of size `k` is `(n − 1) / (C(n, k) k (n − k))`,
    the weight under which weighted least squares over all coalitions gives
    the Shapley value. The empty and the full coalition have infinite weight
    (they enter KernelSHAP as the constraint `Σ β = v(N) − v(∅)`).

    Args:
        coalitions: bool `[m, n]`.

    Returns:
        float64 `[m]`, `inf` for the empty and the full coalition.
    """
    coalitions = _as_coalition_matrix(coalitions)
    num_contributors = coalitions.shape[1]
    sizes = coalitions.sum(axis=1)
    log_binomial = _log_binomial(num_contributors, sizes)
    weights = np.full(sizes.shape, np.inf)
    inner = (sizes > 0) & (sizes < num_contributors)
    k = sizes[inner].astype(np.float64)
    weights[inner] = (num_contributors - 1) / (k * (num_contributors - k)) * np.exp(-log_binomial[inner])
    return weights


def sample_shapley_kernel(
    num_contributors: int,
    num_coalitions: int,
    *,
    seed: int,
    paired: bool = False,
) -> np.ndarray:
    """Sample coalitions from the Shapley kernel.

    Each coalition draws a size `k ∈ 1..n−1` with `p(k) ∝ (n−1)/(k(n−k))`
    and then a coalition of that size uniformly. With `paired=True` each drawn
    coalition is followed by its complement (antithetic sampling), so rows
    `2j` and `2j + 1` are complements. The complement of a size-`k` coalition
    has size `n − k`, which the kernel weighs equally, so pairing keeps the
    distribution of every row.

    Args:
        num_contributors: `n ≥ 2`.
        num_coalitions: `m ≥ 1`, the number of rows returned. It must be even
            when `paired`, because a lone unpaired row would break the complement
            pairs that the batch uncertainty keeps together.
        seed: seed of the `np.random.Generator`.
        paired: add each coalition's complement right after it.

    Returns:
        bool `[m, n]`; no row is empty or full.

    Raises:
        ValueError: on `n < 2`, `m < 1`, or an odd `m` with `paired`.
    """
    _check_kernel_size(num_contributors)
    _check_count("num_coalitions", num_coalitions)
    if paired and num_coalitions % 2:
        raise ValueError(
            f"num_coalitions={num_coalitions} is odd but paired=True returns coalitions in complement pairs; "
            f"use {num_coalitions - 1} or {num_coalitions + 1}."
        )

    num_drawn = num_coalitions // 2 if paired else num_coalitions
    size_rng, member_rng = _child_generators(seed, 2)
    cumulative = np.cumsum(shapley_kernel_size_probabilities(num_contributors))
    cumulative[-1] = 1.0
    sizes = 1 + np.searchsorted(cumulative, size_rng.random(num_drawn), side="right")
    drawn = _uniform_coalitions_of_sizes(member_rng, sizes, num_contributors)

    if not paired:
        return drawn
    coalitions = np.empty((num_coalitions, num_contributors), dtype=bool)
    coalitions[0::2] = drawn
    coalitions[1::2] = ~drawn
    return coalitions


def sample_uniform(num_contributors: int, num_coalitions: int, *, seed: int) -> np.ndarray:
    """Sample coalitions with each contributor in independently with probability 1/2.

    This is the uniform distribution over all `2^n` coalitions, empty and full
    included, which the Banzhaf MSR estimator needs.

    Args:
        num_contributors: `n ≥ 1`.
        num_coalitions: `m ≥ 1`.
        seed: seed of the `np.random.Generator`.

    Returns:
        bool `[m, n]`.
    """
    _check_count("num_contributors", num_contributors)
    _check_count("num_coalitions", num_coalitions)
    (rng,) = _child_generators(seed, 1)
    return rng.random((num_coalitions, num_contributors)) < 0.5


def leave_one_out_coalitions(num_contributors: int) -> np.ndarray:
    """Return the `n` coalitions `N∖{i}`, row `i` leaving out contributor `i`.

    Returns:
        bool `[n, n]`, all ones except a zero diagonal.
    """
    _check_count("num_contributors", num_contributors)
    return ~np.eye(num_contributors, dtype=bool)


def datamodel_coalition_size(num_contributors: int, alpha: float) -> int:
    """Return the datamodel coalition size `round(α·n)`, rounding halves up.

    Raises:
        ValueError: if `α ∉ (0, 1)` or the size is 0 or `n` (every coalition
            would then be the same, so its LDS would be undefined).
    """
    _check_count("num_contributors", num_contributors)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must be in (0, 1); it is the fraction of contributors in each coalition.")
    size = int(np.floor(alpha * num_contributors + 0.5))
    if size in (0, num_contributors):
        raise ValueError(
            f"alpha={alpha} with {num_contributors} contributors gives coalitions of size {size}, "
            "which contain nobody or everybody, so every coalition of a set would be the same; "
            f"choose alpha between {1 / num_contributors:.3g} and {1 - 1 / num_contributors:.3g}."
        )
    return size


def sample_datamodel_sets(
    num_contributors: int,
    alpha: float,
    num_sets: int,
    coalitions_per_set: int,
    *,
    seed: int,
    distinct: bool = False,
) -> np.ndarray:
    """Sample independent sets of datamodel coalitions of size `round(α·n)`.

    Each coalition is uniform over the coalitions of that size and drawn
    independently, so a set may hold the same coalition twice (likely only
    for small `n`). With `distinct`, a set keeps the first occurrence of
    each coalition and draws on until it has `coalitions_per_set` different
    ones; its first rows are those of the plain draw, so existing sets only
    gain coalitions. Set `s` depends only on `(seed, s)`, so asking for more
    sets keeps the earlier ones.

    Args:
        num_contributors: `n ≥ 2`.
        alpha: fraction of contributors in each coalition, in `(0, 1)`.
        num_sets: number of independent sets (the LDS reports a CI over them).
        coalitions_per_set: coalitions in each set.
        seed: seed of the `np.random.Generator` of every set.
        distinct: draw until every set has `coalitions_per_set` different coalitions.

    Returns:
        bool `[num_sets, coalitions_per_set, n]`.

    Raises:
        ValueError: `distinct` asks for more coalitions than the `C(n, size)` that exist.
    """
    size = datamodel_coalition_size(num_contributors, alpha)
    _check_count("num_sets", num_sets)
    _check_count("coalitions_per_set", coalitions_per_set)
    available = math.comb(num_contributors, size)
    if distinct and coalitions_per_set > available:
        raise ValueError(
            f"coalitions_per_set={coalitions_per_set} exceeds the {available} distinct coalitions of size {size} among "
            f"{num_contributors} contributors; ask for at most {available}."
        )

    sets = np.empty((num_sets, coalitions_per_set, num_contributors), dtype=bool)
    for index, rng in enumerate(_child_generators(seed, num_sets)):
        sizes = np.full(coalitions_per_set, size)
        rows = _uniform_coalitions_of_sizes(rng, sizes, num_contributors)
        if distinct:
            rows = _distinct_rows(rng, rows, coalitions_per_set, size)
        sets[index] = rows
    return sets


def _distinct_rows(rng: np.random.Generator, rows: np.ndarray, count: int, size: int) -> np.ndarray:
    """Keep the first occurrence of each row and draw more rows of `size` from `rng` until `count` are different."""
    first_rows: dict[bytes, np.ndarray] = {}
    while True:
        for row in rows:
            first_rows.setdefault(row.tobytes(), row)
            if len(first_rows) == count:
                return np.stack(list(first_rows.values()))
        rows = _uniform_coalitions_of_sizes(rng, np.full(count, size), rows.shape[1])


def enumerate_coalitions(num_contributors: int) -> np.ndarray:
    """Return all `2^n` coalitions, row `j` holding contributor `i` iff bit `i` of `j` is set.

    Row 0 is the empty coalition and the last row the full one. A value table
    `table[j] = v(row j)` in this order is what `exact_shapley` reads.

    Raises:
        ValueError: if `n > 20` (over a million coalitions).
    """
    _check_count("num_contributors", num_contributors)
    if num_contributors > MAX_ENUMERATION_CONTRIBUTORS:
        raise ValueError(
            f"Cannot enumerate all 2^{num_contributors} coalitions: enumeration is limited to "
            f"{MAX_ENUMERATION_CONTRIBUTORS} contributors. Sample coalitions instead "
            "(sample_shapley_kernel for KernelSHAP)."
        )
    indices = np.arange(2**num_contributors, dtype=np.int64)
    return ((indices[:, None] >> np.arange(num_contributors)) & 1).astype(bool)


def coalition_to_bits(coalition: Sequence[bool] | np.ndarray) -> str:
    """Return the bitstring of a coalition: character `i` is `1` iff contributor `i` is in it."""
    mask = np.asarray(coalition)
    if mask.ndim != 1:
        raise ValueError(f"A coalition must be one-dimensional [n], got shape {mask.shape}.")
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"A coalition must hold booleans or 0/1, got values {np.unique(mask)[:5]}.")
    return "".join("1" if member else "0" for member in mask.astype(bool))


def bits_to_coalition(bits: str, num_contributors: int | None = None) -> np.ndarray:
    """Parse a bitstring into a coalition mask.

    Args:
        bits: characters `0`/`1`, character `i` for contributor `i`.
        num_contributors: the expected length, checked when given.

    Returns:
        bool `[n]`.

    Raises:
        ValueError: on other characters or a length other than `num_contributors`.
    """
    if not isinstance(bits, str) or not bits:
        raise ValueError(f"A coalition bitstring must be a non-empty str of 0 and 1, got {bits!r}.")
    invalid = sorted(set(bits) - {"0", "1"})
    if invalid:
        raise ValueError(f"Coalition bitstring {bits!r} contains {invalid}; only '0' and '1' are allowed.")
    if num_contributors is not None and len(bits) != num_contributors:
        raise ValueError(
            f"Coalition bitstring {bits!r} has {len(bits)} characters but the study has "
            f"{num_contributors} contributors; give one character per contributor."
        )
    return np.frombuffer(bits.encode("ascii"), dtype=np.uint8) == ord("1")


def _uniform_coalitions_of_sizes(rng: np.random.Generator, sizes: np.ndarray, num_contributors: int) -> np.ndarray:
    # A uniform coalition of size k is the k contributors with the smallest
    # i.i.d. uniform keys. Keys are drawn in row chunks to bound memory; the
    # generator's stream is the same as one large draw, which keeps prefixes.
    coalitions = np.empty((len(sizes), num_contributors), dtype=bool)
    for start in range(0, len(sizes), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(sizes))
        keys = rng.random((stop - start, num_contributors))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        coalitions[start:stop] = ranks < sizes[start:stop, None]
    return coalitions


def _child_generators(seed: int, count: int) -> list[np.random.Generator]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}; samplers never use the global RNG.")
    return [np.random.default_rng(child) for child in np.random.SeedSequence(int(seed)).spawn(count)]


def _as_coalition_matrix(coalitions: np.ndarray) -> np.ndarray:
    matrix = np.asarray(coalitions)
    if matrix.ndim != 2:
        raise ValueError(f"coalitions must be a [m, n] matrix, got shape {matrix.shape}.")
    if matrix.dtype != bool:
        if not np.isin(matrix, (0, 1)).all():
            raise ValueError("coalitions must hold booleans or 0/1 entries.")
        matrix = matrix.astype(bool)
    return matrix


def _log_binomial(n: int, k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _check_kernel_size(num_contributors: int) -> None:
    _check_count("num_contributors", num_contributors)
    if num_contributors < 2:
        raise ValueError(
            f"The Shapley kernel needs at least 2 contributors (sizes 1..n-1), got {num_contributors}; "
            "with one contributor its Shapley value is v(N) - v(∅)."
        )


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
