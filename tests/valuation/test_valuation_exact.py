"""Exact Shapley and Banzhaf values against closed forms and the axioms."""

import numpy as np
import pytest

from diffusion_credit.valuation import (
    coalition_to_bits,
    enumerate_coalitions,
    exact_banzhaf,
    exact_shapley,
    exact_shapley_from_values,
    value_table,
)


def test_exact_shapley_matches_closed_form(closed_form_game):
    result = exact_shapley(closed_form_game.table())

    np.testing.assert_allclose(result.values, closed_form_game.shapley, rtol=0, atol=1e-12)
    assert result.estimator == "exact_shapley"
    assert result.num_coalitions == 2**closed_form_game.num_players
    assert result.std is None


def test_exact_shapley_matches_permutations(closed_form_game, permutation_shapley):
    reference = permutation_shapley(closed_form_game.value, closed_form_game.num_players)

    np.testing.assert_allclose(reference, closed_form_game.shapley, atol=1e-12)
    np.testing.assert_allclose(exact_shapley(closed_form_game.table()).values, reference, atol=1e-12)


def test_exact_shapley_efficiency(closed_form_game):
    table = closed_form_game.table()

    values = exact_shapley(table).values

    assert values.sum() == pytest.approx(table[-1] - table[0], abs=1e-12)


def test_exact_banzhaf_matches_closed_form(games):
    for name in ("additive", "pairwise", "unanimity"):
        game = games[name]
        np.testing.assert_allclose(exact_banzhaf(game.table()).values, game.banzhaf, atol=1e-12, err_msg=name)


def test_security_council_published_index(security_council):
    values = exact_shapley(security_council.table()).values

    np.testing.assert_allclose(values, security_council.shapley, atol=1e-12)
    assert values[0] == pytest.approx(0.1963, abs=5e-5)
    assert values[-1] == pytest.approx(0.001865, abs=5e-7)


def test_symmetric_players_get_equal_values():
    # Players 0 and 1 enter only through their count, so they are symmetric.
    def value(z):
        return np.sqrt(z[:, 0].astype(float) + z[:, 1]) * (1 + z[:, 2]) + 0.3 * z[:, 3]

    values = exact_shapley(value_table(lambda mask: value(mask[None])[0], 4)).values

    assert values[0] == pytest.approx(values[1], abs=1e-12)
    assert values[0] != pytest.approx(values[2], abs=1e-3)


def test_dummy_player_gets_zero():
    def value(z):
        return (z[:, 0] & z[:, 1]).astype(float) + 2.0 * z[:, 2] + z[:, 0] * z[:, 2]

    table = value(enumerate_coalitions(4))

    assert exact_shapley(table).values[3] == pytest.approx(0.0, abs=1e-12)
    assert exact_banzhaf(table).values[3] == pytest.approx(0.0, abs=1e-12)


def test_callable_and_mapping_agree_with_table(games):
    game = games["unanimity"]
    table = game.table()
    mapping = {coalition_to_bits(row): value for row, value in zip(enumerate_coalitions(game.num_players), table)}

    from_callable = exact_shapley(game.scalar, num_contributors=game.num_players).values
    from_mapping = exact_shapley(mapping).values

    np.testing.assert_allclose(from_callable, game.shapley, atol=1e-12)
    np.testing.assert_allclose(from_mapping, game.shapley, atol=1e-12)


def test_from_values_in_any_order(games):
    game = games["pairwise"]
    coalitions = enumerate_coalitions(game.num_players)[1:-1]
    order = np.random.default_rng(0).permutation(len(coalitions))
    table = game.table()

    result = exact_shapley_from_values(coalitions[order], table[1:-1][order], table[0], table[-1])

    np.testing.assert_allclose(result.values, game.shapley, atol=1e-12)


def test_from_values_rejects_conflicting_duplicates():
    coalitions = enumerate_coalitions(2)[[1, 2, 1]]

    with pytest.raises(ValueError, match="has two values"):
        exact_shapley_from_values(coalitions, np.array([1.0, 2.0, 1.5]), 0.0, 3.0)


def test_mapping_with_missing_coalitions_raises():
    with pytest.raises(ValueError, match="1 are missing"):
        exact_shapley({"00": 0.0, "10": 1.0, "11": 2.0})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (np.zeros(6), r"shape \[2\^n\]"),
        (np.array([0.0, np.nan, 1.0, 2.0]), "not finite"),
    ],
)
def test_invalid_table_raises(table, message):
    with pytest.raises(ValueError, match=message):
        exact_shapley(table)


def test_callable_without_size_raises():
    with pytest.raises(ValueError, match="num_contributors is required"):
        exact_shapley(lambda mask: 0.0)


def test_enumeration_limit():
    with pytest.raises(ValueError, match="limited to 20 contributors"):
        enumerate_coalitions(21)
