"""LDS: exact additive games, undefined sets, intervals, ties, guards."""

import numpy as np
import pytest
from scipy import stats

from diffusion_credit.evaluation import additive_predictions, cross_fitted_lds, lds_over_sets, linear_datamodeling_score
from diffusion_credit.valuation import exact_shapley, sample_datamodel_sets


def _sets(game_value, num_contributors, num_sets=3, per_set=40, alpha=0.5, seed=0):
    planned = sample_datamodel_sets(num_contributors, alpha, num_sets, per_set, seed=seed)
    return [(coalitions, game_value(coalitions)) for coalitions in planned]


def test_exact_additive_game_has_lds_one():
    weights = np.random.default_rng(0).normal(size=12)
    sets = _sets(lambda z: z @ weights + 3.0, 12)

    result = lds_over_sets(weights, sets)

    assert result.mean == pytest.approx(1.0)
    assert result.per_set == pytest.approx((1.0, 1.0, 1.0))
    assert result.num_undefined == 0


def test_shapley_of_additive_game_has_lds_one():
    weights = np.random.default_rng(1).normal(size=8)
    indices = np.arange(2**8)
    table = ((indices[:, None] >> np.arange(8)) & 1) @ weights
    scores = exact_shapley(table).values
    sets = _sets(lambda z: z @ weights, 8)

    assert lds_over_sets(scores, sets).mean == pytest.approx(1.0)


def test_reversed_scores_have_lds_minus_one():
    weights = np.arange(1.0, 11.0)
    sets = _sets(lambda z: z @ weights, 10)

    assert lds_over_sets(-weights, sets).mean == pytest.approx(-1.0)


def test_matches_scipy_spearman_with_ties():
    rng = np.random.default_rng(3)
    coalitions = sample_datamodel_sets(10, 0.5, 1, 60, seed=3)[0]
    scores = rng.integers(0, 3, size=10).astype(float)
    values = np.round(coalitions @ rng.normal(size=10), 1)

    expected = stats.spearmanr(values, coalitions @ scores).statistic

    assert linear_datamodeling_score(scores, coalitions, values) == pytest.approx(expected)


def test_constant_values_set_excluded_with_count():
    weights = np.random.default_rng(4).normal(size=10)
    sets = _sets(lambda z: z @ weights, 10)
    sets[1] = (sets[1][0], np.full(len(sets[1][1]), 2.5))

    result = lds_over_sets(weights, sets)

    assert result.per_set[1] is None
    assert result.num_undefined == 1
    assert result.num_sets == 3
    assert result.num_defined == 2
    assert result.mean == pytest.approx(1.0)


def test_constant_predictions_are_undefined():
    coalitions = sample_datamodel_sets(6, 0.5, 1, 10, seed=0)[0]

    # Equal scores and equal coalition sizes give the same prediction everywhere.
    assert linear_datamodeling_score(np.full(6, 0.1), coalitions, np.arange(10.0)) is None


def test_all_sets_undefined():
    coalitions = sample_datamodel_sets(6, 0.5, 1, 10, seed=0)[0]

    result = lds_over_sets(np.arange(6.0), [(coalitions, np.zeros(10))] * 2)

    assert result.mean is None
    assert result.ci_low is None
    assert result.num_undefined == 2
    assert "undefined" in str(result)


def test_interval_contains_mean_and_matches_t():
    rng = np.random.default_rng(5)
    weights = rng.normal(size=10)
    sets = _sets(lambda z: z @ weights + rng.normal(scale=1.5, size=len(z)), 10, num_sets=4)

    result = lds_over_sets(weights, sets)
    per_set = np.array(result.per_set)
    half_width = stats.t.ppf(0.975, 3) * per_set.std(ddof=1) / 2

    assert result.ci_low < result.mean < result.ci_high
    assert result.mean == pytest.approx(per_set.mean())
    assert result.ci_high - result.mean == pytest.approx(half_width)
    assert result.confidence == 0.95


def test_single_defined_set_has_no_interval():
    weights = np.arange(5.0)
    result = lds_over_sets(weights, _sets(lambda z: z @ weights, 5, num_sets=1))

    assert result.mean == pytest.approx(1.0)
    assert result.ci_low is None
    assert result.ci_high is None


def test_additive_predictions():
    coalitions = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)

    np.testing.assert_allclose(additive_predictions(np.array([1.0, 2.0, 4.0]), coalitions), [5.0, 0.0])


@pytest.mark.parametrize(
    ("scores", "coalitions", "values", "message"),
    [
        (np.ones(3), np.ones((4, 5), bool), np.arange(4.0), "do not match"),
        (np.array([1.0, np.nan, 0.0]), np.ones((4, 3), bool), np.arange(4.0), "scores contain NaN"),
        (np.ones(3), np.ones((4, 3), bool), np.arange(5.0), "values has shape"),
        (np.ones(3), np.ones((2, 3), bool), np.array([0.0, np.inf]), "values contain NaN"),
    ],
)
def test_invalid_inputs_raise(scores, coalitions, values, message):
    with pytest.raises(ValueError, match=message):
        linear_datamodeling_score(scores, coalitions, values)


def test_invalid_confidence_and_empty_sets_raise():
    with pytest.raises(ValueError, match="confidence"):
        lds_over_sets(np.ones(3), [(np.ones((2, 3), bool), np.arange(2.0))], confidence=95)
    with pytest.raises(ValueError, match="No datamodel sets"):
        lds_over_sets(np.ones(3), [])


def test_interval_is_clipped_to_correlation_range():
    rng = np.random.default_rng(3)
    weights = rng.normal(size=6)
    sets = _sets(lambda z: z @ weights + rng.normal(scale=4.0, size=len(z)), 6, num_sets=2)

    result = lds_over_sets(weights, sets)

    assert result.ci_low == -1.0
    assert result.ci_high == 1.0


def test_cross_fitted_lds_of_additive_game_is_one():
    weights = np.random.default_rng(7).normal(size=8)
    sets = _sets(lambda z: z @ weights + 2.0, 8, num_sets=3, per_set=24)

    result = cross_fitted_lds(sets)

    assert result.per_set == pytest.approx((1.0, 1.0, 1.0))


def test_cross_fitted_lds_of_pure_interaction_is_low():
    # v(S) = 1 when exactly one of players 0 and 1 is in S: a pure interaction that an additive model cannot fit.
    sets = _sets(lambda z: (z[:, 0] != z[:, 1]).astype(float) + 1e-3 * z[:, 2], 8, num_sets=3, per_set=40)

    result = cross_fitted_lds(sets)

    assert abs(result.mean) < 0.3


def test_cross_fitted_lds_needs_two_sets():
    with pytest.raises(ValueError, match="at least two datamodel sets"):
        cross_fitted_lds(_sets(lambda z: z.sum(axis=1).astype(float), 6, num_sets=1))
