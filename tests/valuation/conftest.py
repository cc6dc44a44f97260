"""Cooperative games with closed-form Shapley (and some Banzhaf) values.

Every game is vectorised: `value(coalitions: bool [m, n]) -> float [m]`.
`shapley_by_permutations` is an independent reference (averaging marginal
contributions over all n! orders) for small games.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest


@dataclass
class ClosedFormGame:
    """A game, its player count and its known values."""

    name: str
    num_players: int
    value: Callable[[np.ndarray], np.ndarray]
    shapley: np.ndarray
    banzhaf: np.ndarray | None = None

    def table(self) -> np.ndarray:
        """Values of all 2^n coalitions in `enumerate_coalitions` order."""
        indices = np.arange(2**self.num_players)
        coalitions = ((indices[:, None] >> np.arange(self.num_players)) & 1).astype(bool)
        return self.value(coalitions)

    def scalar(self, coalition: np.ndarray) -> float:
        return float(self.value(np.asarray(coalition, dtype=bool)[None])[0])


def additive_game(weights: np.ndarray) -> ClosedFormGame:
    weights = np.asarray(weights, dtype=float)
    return ClosedFormGame("additive", len(weights), lambda z: z @ weights, weights.copy(), weights.copy())


def pairwise_game(linear: np.ndarray, interaction: np.ndarray) -> ClosedFormGame:
    """`v(S) = Σ_{i∈S} a_i + Σ_{i<j ∈ S} c_ij`; Shapley `a_i + ½ Σ_j c_ij`, Banzhaf the same."""
    upper = np.triu(interaction, 1)
    symmetric = upper + upper.T
    value = lambda z: z @ linear + np.einsum("mi,ij,mj->m", z.astype(float), upper, z.astype(float))  # noqa: E731
    closed = linear + symmetric.sum(axis=1) / 2
    return ClosedFormGame("pairwise", len(linear), value, closed, closed.copy())


def unanimity_game(num_players: int, carriers: list[tuple[int, ...]], coefficients: list[float]) -> ClosedFormGame:
    """`v(S) = Σ_T c_T [T ⊆ S]`; Shapley `Σ_{T∋i} c_T/|T|`, Banzhaf `Σ_{T∋i} c_T/2^{|T|−1}`."""
    masks = np.zeros((len(carriers), num_players), dtype=bool)
    for row, carrier in enumerate(carriers):
        masks[row, list(carrier)] = True
    coefficients = np.asarray(coefficients, dtype=float)

    def value(z: np.ndarray) -> np.ndarray:
        contains = (z[:, None, :] | ~masks[None]).all(axis=2)
        return contains @ coefficients

    shapley = np.zeros(num_players)
    banzhaf = np.zeros(num_players)
    for carrier, coefficient in zip(carriers, coefficients):
        shapley[list(carrier)] += coefficient / len(carrier)
        banzhaf[list(carrier)] += coefficient / 2 ** (len(carrier) - 1)
    return ClosedFormGame("unanimity", num_players, value, shapley, banzhaf)


def glove_game(num_right: int) -> ClosedFormGame:
    """One left glove (player 0) and `r` right gloves: `v(S) = min(|S∩L|, |S∩R|)`.

    Shapley: left `r/(r+1)`, each right `1/(r(r+1))`.
    """
    value = lambda z: np.minimum(z[:, 0].astype(float), z[:, 1:].sum(axis=1))  # noqa: E731
    shapley = np.r_[num_right / (num_right + 1), np.full(num_right, 1 / (num_right * (num_right + 1)))]
    return ClosedFormGame("glove", num_right + 1, value, shapley)


def weighted_majority_game(weights: list[float], quota: float, shapley: np.ndarray) -> ClosedFormGame:
    weights = np.asarray(weights, dtype=float)
    value = lambda z: (z @ weights >= quota).astype(float)  # noqa: E731
    return ClosedFormGame("weighted_majority", len(weights), value, np.asarray(shapley, dtype=float))


def security_council_shapley() -> np.ndarray:
    """Shapley–Shubik index of the UN Security Council game [39; 7×5, 1×10].

    A non-permanent member is pivotal exactly when it arrives after all five
    permanent members and three of the other nine non-permanent ones.
    """
    nonpermanent = math.comb(9, 3) * math.factorial(8) * math.factorial(6) / math.factorial(15)
    permanent = (1 - 10 * nonpermanent) / 5
    return np.r_[np.full(5, permanent), np.full(10, nonpermanent)]


def shapley_by_permutations(value: Callable[[np.ndarray], np.ndarray], num_players: int) -> np.ndarray:
    """Average marginal contributions over all n! orders (independent reference)."""
    totals = np.zeros(num_players)
    orders = list(itertools.permutations(range(num_players)))
    for order in orders:
        prefixes = np.zeros((num_players + 1, num_players), dtype=bool)
        for position, player in enumerate(order):
            prefixes[position + 1 :, player] = True
        chain = value(prefixes)
        totals[list(order)] += np.diff(chain)
    return totals / len(orders)


def make_games() -> dict[str, ClosedFormGame]:
    rng = np.random.default_rng(7)
    return {
        "additive": additive_game(rng.normal(size=6)),
        "pairwise": pairwise_game(rng.normal(size=6), rng.normal(size=(6, 6))),
        "unanimity": unanimity_game(6, [(0, 1, 2), (2, 3), (1, 4, 5, 0), (5,)], [2.0, -1.0, 3.0, 0.5]),
        "glove": glove_game(2),
        "weighted_majority": weighted_majority_game([3, 1, 1, 1], 4, [3 / 4, 1 / 12, 1 / 12, 1 / 12]),
    }


GAME_NAMES = tuple(make_games())


@pytest.fixture(params=GAME_NAMES)
def closed_form_game(request) -> ClosedFormGame:
    """Each small closed-form game in turn."""
    return make_games()[request.param]


@pytest.fixture
def games() -> dict[str, ClosedFormGame]:
    """All small closed-form games by name."""
    return make_games()


@pytest.fixture
def security_council() -> ClosedFormGame:
    """The 15-player UN Security Council voting game with its published index."""
    return weighted_majority_game([7] * 5 + [1] * 10, 39, security_council_shapley())


@pytest.fixture
def random_interaction_game() -> ClosedFormGame:
    """An 8-player game with second- and third-order terms (unanimity form)."""
    rng = np.random.default_rng(11)
    carriers = [(i,) for i in range(8)]
    carriers += [tuple(sorted(rng.choice(8, size=2, replace=False))) for _ in range(6)]
    carriers += [tuple(sorted(rng.choice(8, size=3, replace=False))) for _ in range(4)]
    return unanimity_game(8, carriers, list(rng.normal(size=len(carriers))))


@pytest.fixture
def permutation_shapley() -> Callable[[Callable[[np.ndarray], np.ndarray], int], np.ndarray]:
    """The n!-order reference computation."""
    return shapley_by_permutations
