"""Exact Shapley and Banzhaf values by enumerating all coalitions (n ≤ 20).

A game is given as a value table, a mapping from bitstrings, or a callable::

    from diffusion_credit.valuation import enumerate_coalitions, exact_shapley

    table = np.array([v(row) for row in enumerate_coalitions(n)])   # [2^n]
    exact_shapley(table).values
    exact_shapley({"000": 0.0, "100": 1.0, ...})                    # all 2^n bitstrings
    exact_shapley(lambda mask: float(mask.sum() >= 2), num_contributors=3)

Table order: entry `j` is the value of the coalition holding contributor `i`
iff bit `i` of `j` is set, the row order of `enumerate_coalitions`. With
marginal contributions `Δ_i(S) = v(S ∪ {i}) − v(S)` over `S ⊆ N∖{i}`:

- Shapley: `φ_i = Σ_S |S|! (n − |S| − 1)! / n! · Δ_i(S)`, summing to `v(N) − v(∅)`.
- Banzhaf: `φ_i = 2^{−(n−1)} Σ_S Δ_i(S)`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import gammaln
from tqdm.auto import tqdm

from .result import ValuationResult
from .samplers import MAX_ENUMERATION_CONTRIBUTORS, bits_to_coalition, coalition_to_bits, enumerate_coalitions

__all__ = ["Game", "value_table", "exact_shapley", "exact_shapley_from_values", "exact_banzhaf"]

logger = logging.getLogger(__name__)

Game = np.ndarray | Mapping[str, float] | Callable[[np.ndarray], float]
"""A value table `[2^n]`, a mapping from all `2^n` bitstrings, or `v(mask: bool [n]) -> float`."""


def value_table(game: Game, num_contributors: int | None = None, *, progress: bool = False) -> np.ndarray:
    """Return the game as a float64 table `[2^n]` in `enumerate_coalitions` order.

    Args:
        game: a table, a mapping from bitstrings, or a callable on bool masks.
        num_contributors: `n`; required for a callable, checked otherwise.
        progress: show a progress bar while calling a callable game.

    Raises:
        ValueError: on a table of the wrong length, a mapping that misses
            coalitions, non-finite values, or `n > 20`.
    """
    if callable(game):
        table = _table_from_callable(game, num_contributors, progress)
    elif isinstance(game, Mapping):
        table = _table_from_mapping(game, num_contributors)
    else:
        table = np.asarray(game, dtype=np.float64)
        _check_table_length(table, num_contributors)

    bad = np.flatnonzero(~np.isfinite(table))
    if len(bad):
        bits = coalition_to_bits(enumerate_coalitions(_num_players(len(table)))[bad[0]])
        raise ValueError(f"The value of coalition {bits} is {table[bad[0]]}, not finite ({len(bad)} such coalitions).")
    return table


def exact_shapley(game: Game, num_contributors: int | None = None, *, progress: bool = False) -> ValuationResult:
    """Compute the exact Shapley values of a game by enumeration.

    Returns:
        `ValuationResult` with estimator `exact_shapley`, `std=None`, and
        `num_coalitions = 2^n`.
    """
    table = value_table(game, num_contributors, progress=progress)
    num_players = _num_players(len(table))
    sizes = np.arange(num_players)
    weights = np.exp(gammaln(sizes + 1) + gammaln(num_players - sizes) - gammaln(num_players + 1))
    values = _weighted_marginals(table, num_players, weights)
    return ValuationResult(values=values, std=None, estimator="exact_shapley", num_coalitions=len(table), extra=_bounds(table))


def exact_shapley_from_values(
    coalitions: np.ndarray, values: np.ndarray, v_empty: float, v_full: float
) -> ValuationResult:
    """Compute exact Shapley values from evaluated coalitions in any order.

    Args:
        coalitions: bool `[m, n]` holding every coalition other than the empty
            and the full one at least once (rows for those two are allowed and
            must agree with `v_empty` and `v_full`).
        values: float `[m]`, `v` of each row.
        v_empty: `v(∅)`.
        v_full: `v(N)`.

    Raises:
        ValueError: when a coalition is missing or one coalition has two different values.
    """
    coalitions = np.asarray(coalitions, dtype=bool)
    values = np.asarray(values, dtype=np.float64)
    if coalitions.ndim != 2 or values.shape != (len(coalitions),):
        raise ValueError(f"coalitions [m, n] and values [m] do not match: shapes {coalitions.shape} and {values.shape}.")
    num_contributors = coalitions.shape[1]
    table: dict[str, float] = {"0" * num_contributors: float(v_empty), "1" * num_contributors: float(v_full)}
    for row, value in zip(coalitions, values):
        bits = coalition_to_bits(row)
        if bits in table and not np.isclose(table[bits], value, rtol=0, atol=1e-12):
            raise ValueError(
                f"Coalition {bits} has two values, {table[bits]} and {value}; keep one evaluation per coalition "
                "(v_empty and v_full count as the values of the empty and the full coalition)."
            )
        table[bits] = float(value)
    return exact_shapley(table, num_contributors)


def exact_banzhaf(game: Game, num_contributors: int | None = None, *, progress: bool = False) -> ValuationResult:
    """Compute the exact Banzhaf values of a game by enumeration.

    Returns:
        `ValuationResult` with estimator `exact_banzhaf`, `std=None`, and
        `num_coalitions = 2^n`.
    """
    table = value_table(game, num_contributors, progress=progress)
    num_players = _num_players(len(table))
    weights = np.full(num_players, 2.0 ** (1 - num_players))
    values = _weighted_marginals(table, num_players, weights)
    return ValuationResult(values=values, std=None, estimator="exact_banzhaf", num_coalitions=len(table), extra=_bounds(table))


def _weighted_marginals(table: np.ndarray, num_players: int, size_weights: np.ndarray) -> np.ndarray:
    # size_weights[s] weighs the marginal contribution to a coalition of size s.
    indices = np.arange(len(table), dtype=np.int64)
    popcount = enumerate_coalitions(num_players).sum(axis=1)
    values = np.empty(num_players)
    for player in range(num_players):
        without = indices[(indices >> player) & 1 == 0]
        marginals = table[without | (1 << player)] - table[without]
        values[player] = np.dot(size_weights[popcount[without]], marginals)
    return values


def _table_from_callable(game: Callable[[np.ndarray], float], num_contributors: int | None, progress: bool) -> np.ndarray:
    if num_contributors is None:
        raise ValueError("num_contributors is required when the game is a callable.")
    coalitions = enumerate_coalitions(num_contributors)
    table = np.empty(len(coalitions))
    for index, coalition in enumerate(tqdm(coalitions, desc="coalitions", disable=not progress)):
        table[index] = float(game(coalition.copy()))
    return table


def _table_from_mapping(game: Mapping[str, float], num_contributors: int | None) -> np.ndarray:
    lengths = {len(bits) for bits in game}
    if len(lengths) != 1:
        raise ValueError(f"Coalition bitstrings have different lengths {sorted(lengths)}; all need one character per contributor.")
    (num_players,) = lengths
    if num_contributors is not None and num_players != num_contributors:
        raise ValueError(f"Coalition bitstrings have {num_players} characters but num_contributors={num_contributors}.")
    if num_players > MAX_ENUMERATION_CONTRIBUTORS:
        raise ValueError(f"Exact values need all 2^{num_players} coalitions; enumeration is limited to n <= {MAX_ENUMERATION_CONTRIBUTORS}.")

    powers = 1 << np.arange(num_players)
    table = np.full(2**num_players, np.nan)
    for bits, value in game.items():
        table[int(bits_to_coalition(bits) @ powers)] = float(value)
    missing = np.flatnonzero(np.isnan(table))
    if len(missing):
        examples = ", ".join(coalition_to_bits(row) for row in enumerate_coalitions(num_players)[missing[:3]])
        raise ValueError(
            f"Exact values need all {2**num_players} coalitions of {num_players} contributors but "
            f"{len(missing)} are missing (e.g. {examples}); evaluate them or use a sampled estimator."
        )
    return table


def _check_table_length(table: np.ndarray, num_contributors: int | None) -> None:
    if table.ndim != 1 or len(table) < 2 or len(table) & (len(table) - 1):
        raise ValueError(f"A value table must have shape [2^n], got {table.shape}.")
    num_players = _num_players(len(table))
    if num_players > MAX_ENUMERATION_CONTRIBUTORS:
        raise ValueError(f"A value table of 2^{num_players} entries exceeds the enumeration limit n <= {MAX_ENUMERATION_CONTRIBUTORS}.")
    if num_contributors is not None and num_players != num_contributors:
        raise ValueError(f"The value table has 2^{num_players} entries but num_contributors={num_contributors}.")


def _num_players(table_length: int) -> int:
    return int(math.log2(table_length))


def _bounds(table: np.ndarray) -> dict[str, float]:
    return {"v_empty": float(table[0]), "v_full": float(table[-1])}
