"""KernelSHAP: exactness with all coalitions, convergence, uncertainty, guards."""

import numpy as np
import pytest

from diffusion_credit.valuation import (
    InsufficientCoalitionsError,
    enumerate_coalitions,
    exact_shapley,
    kernel_shap,
    sample_shapley_kernel,
    shapley_kernel_weights,
    solve_constrained,
)


def _solve_sampled(game, num_coalitions, seed, **options):
    table = game.table()
    coalitions = sample_shapley_kernel(game.num_players, num_coalitions, seed=seed, paired=options.get("paired", False))
    return kernel_shap(coalitions, game.value(coalitions), table[0], table[-1], **options)


def test_all_coalitions_with_kernel_weights_is_exact(closed_form_game):
    table = closed_form_game.table()
    coalitions = enumerate_coalitions(closed_form_game.num_players)

    result = kernel_shap(coalitions, table, table[0], table[-1], weights="kernel", uncertainty="none")

    np.testing.assert_allclose(result.values, exact_shapley(table).values, rtol=0, atol=1e-8)
    assert result.extra["num_trivial_dropped"] == 2
    assert result.extra["weighting"] == "kernel"


def test_explicit_weights_equal_kernel_string(random_interaction_game):
    table = random_interaction_game.table()
    coalitions = enumerate_coalitions(8)

    named = kernel_shap(coalitions, table, table[0], table[-1], weights="kernel", uncertainty="none")
    explicit = kernel_shap(coalitions, table, table[0], table[-1], weights=shapley_kernel_weights(coalitions), uncertainty="none")

    np.testing.assert_allclose(explicit.values, named.values, atol=1e-12)


def test_efficiency_holds_to_rounding(random_interaction_game):
    table = random_interaction_game.table()

    for seed in range(3):
        result = _solve_sampled(random_interaction_game, 60, seed, uncertainty="none")
        assert result.values.sum() == pytest.approx(table[-1] - table[0], abs=1e-10)


def test_error_shrinks_as_coalitions_grow(random_interaction_game):
    exact = random_interaction_game.shapley

    def mean_error(num_coalitions):
        errors = [
            np.sqrt(np.mean((_solve_sampled(random_interaction_game, num_coalitions, seed, uncertainty="none").values - exact) ** 2))
            for seed in range(12)
        ]
        return np.mean(errors)

    small, medium, large = mean_error(100), mean_error(400), mean_error(1600)

    # The error falls roughly as 1/√m: halving twice.
    assert medium < 0.75 * small
    assert large < 0.75 * medium
    assert large < 0.4 * small


def test_paired_sampling_is_exact_for_pairwise_games(games):
    # Complement pairs cancel the second-order residuals of the regression.
    game = games["pairwise"]

    result = _solve_sampled(game, 40, seed=0, paired=True, uncertainty="none")

    np.testing.assert_allclose(result.values, game.shapley, atol=1e-10)


def test_paired_lowers_error_on_higher_order_game(random_interaction_game):
    exact = random_interaction_game.shapley
    unpaired = [np.abs(_solve_sampled(random_interaction_game, 200, s, uncertainty="none").values - exact).mean() for s in range(10)]
    paired = [np.abs(_solve_sampled(random_interaction_game, 200, s, paired=True, uncertainty="none").values - exact).mean() for s in range(10)]

    assert np.mean(paired) < np.mean(unpaired)


def test_covert_lee_closed_form_matches_solver(random_interaction_game):
    table = random_interaction_game.table()
    coalitions = sample_shapley_kernel(8, 300, seed=4)
    values = random_interaction_game.value(coalitions)
    total = table[-1] - table[0]
    z = coalitions.astype(float)
    gram = z.T @ z / len(z)
    moment = z.T @ (values - table[0]) / len(z)
    ones = np.ones(8)

    inverse_b = np.linalg.solve(gram, moment)
    inverse_ones = np.linalg.solve(gram, ones)
    closed_form = inverse_b - inverse_ones * (ones @ inverse_b - total) / (ones @ inverse_ones)

    beta, rank = solve_constrained(gram, moment, total)
    result = kernel_shap(coalitions, values, table[0], table[-1], uncertainty="none")

    assert rank == 8
    np.testing.assert_allclose(beta, closed_form, atol=1e-10)
    np.testing.assert_allclose(result.values, closed_form, atol=1e-10)


def test_duplicates_count_twice(random_interaction_game):
    table = random_interaction_game.table()
    coalitions = sample_shapley_kernel(8, 80, seed=6)
    values = random_interaction_game.value(coalitions)
    doubled_rows = np.r_[np.arange(80), np.arange(10)]
    weights = np.ones(80)
    weights[:10] = 2

    duplicated = kernel_shap(coalitions[doubled_rows], values[doubled_rows], table[0], table[-1], uncertainty="none")
    weighted = kernel_shap(coalitions, values, table[0], table[-1], weights=weights, uncertainty="none")

    np.testing.assert_allclose(duplicated.values, weighted.values, atol=1e-10)
    assert duplicated.extra["num_distinct"] == weighted.extra["num_distinct"]


def test_empty_and_full_rows_are_dropped(random_interaction_game):
    table = random_interaction_game.table()
    coalitions = sample_shapley_kernel(8, 100, seed=3)
    values = random_interaction_game.value(coalitions)
    with_trivial = np.r_[coalitions, np.zeros((1, 8), bool), np.ones((1, 8), bool)]

    plain = kernel_shap(coalitions, values, table[0], table[-1], uncertainty="none")
    padded = kernel_shap(with_trivial, np.r_[values, 123.0, -55.0], table[0], table[-1], uncertainty="none")

    np.testing.assert_allclose(padded.values, plain.values, atol=1e-12)
    assert padded.extra["num_trivial_dropped"] == 2
    assert padded.num_coalitions == 102


def test_too_few_coalitions_message():
    coalitions = sample_shapley_kernel(10, 4, seed=0)

    with pytest.raises(InsufficientCoalitionsError) as error:
        kernel_shap(coalitions, np.arange(4.0), 0.0, 1.0, uncertainty="none")

    message = str(error.value)
    assert "4 coalitions" in message
    assert "4 distinct" in message
    assert "linearly independent as 0/1 vectors, at least 9 of them" in message
    assert "add at least 5 more" in message


@pytest.mark.parametrize(("num_coalitions", "missing"), [(12, "3 more pairs"), (18, "1 more pair ")])
def test_too_few_pairs_message(num_coalitions, missing):
    coalitions = sample_shapley_kernel(10, num_coalitions, seed=0, paired=True)

    with pytest.raises(InsufficientCoalitionsError) as error:
        kernel_shap(coalitions, np.arange(float(num_coalitions)), 0.0, 1.0, paired=True, uncertainty="none")

    message = str(error.value)
    assert f"{num_coalitions} coalitions" in message
    assert "at least 9 distinct pairs (18 coalitions)" in message
    assert f"add at least {missing}" in message


def test_repeated_coalition_is_not_enough():
    coalitions = np.repeat(sample_shapley_kernel(5, 1, seed=0), 50, axis=0)

    with pytest.raises(InsufficientCoalitionsError, match="50 coalitions, 1 distinct"):
        kernel_shap(coalitions, np.ones(50), 0.0, 1.0, uncertainty="none")


def test_only_trivial_rows_raise():
    coalitions = np.array([[0, 0, 0], [1, 1, 1]], dtype=bool)

    with pytest.raises(InsufficientCoalitionsError, match="only empty or full"):
        kernel_shap(coalitions, np.array([0.0, 1.0]), 0.0, 1.0)


def test_minimal_identifiable_set_solves():
    # n − 1 coalitions that, with the constraint, pin down every value.
    coalitions = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
    values = np.array([1.0, 3.0])

    result = kernel_shap(coalitions, values, 0.0, 6.0, uncertainty="none")

    np.testing.assert_allclose(result.values, [1.0, 2.0, 3.0], atol=1e-12)


def test_batch_std_matches_spread_across_seeds(random_interaction_game):
    exact = random_interaction_game.shapley
    results = [_solve_sampled(random_interaction_game, 800, seed, num_batches=8) for seed in range(20)]
    estimates = np.array([result.values for result in results])
    mean_std = np.mean([result.std for result in results], axis=0)

    observed_error = np.sqrt(np.mean((estimates - exact) ** 2, axis=0))

    # Within a factor of two per contributor, averaged over 20 repetitions.
    ratio = mean_std / observed_error
    assert ratio.min() > 0.5
    assert ratio.max() < 2.0


def test_bootstrap_std_is_comparable_to_batches(random_interaction_game):
    batches = _solve_sampled(random_interaction_game, 800, seed=1, num_batches=8)
    bootstrap = _solve_sampled(random_interaction_game, 800, seed=1, uncertainty="bootstrap", num_bootstrap=60)

    np.testing.assert_allclose(bootstrap.values, batches.values)
    ratio = bootstrap.std.mean() / batches.std.mean()
    assert 0.5 < ratio < 2.0


def test_paired_batches_keep_pairs_together(random_interaction_game):
    result = _solve_sampled(random_interaction_game, 400, seed=0, paired=True, num_batches=5)

    assert result.std is not None
    assert result.extra["paired"] is True
    assert result.extra["num_batches"] == 5


def test_convergence_and_forecast(random_interaction_game):
    coarse = _solve_sampled(random_interaction_game, 400, seed=0, num_batches=4, threshold=1e-4)

    assert coarse.converged is False
    assert coarse.convergence_ratio == pytest.approx(coarse.std.max() / np.ptp(coarse.values))
    expected = int(np.ceil(400 * (coarse.convergence_ratio / 1e-4) ** 2))
    assert coarse.forecast_num_coalitions == expected

    loose = _solve_sampled(random_interaction_game, 400, seed=0, num_batches=4, threshold=0.9)
    assert loose.converged is True
    assert loose.forecast_num_coalitions == 400


def test_batches_too_small_leave_std_out():
    # 30 complement pairs in 4 batches: under the 9 pairs a batch needs.
    coalitions = sample_shapley_kernel(10, 60, seed=0, paired=True)
    values = coalitions @ np.arange(10.0)

    with pytest.warns(RuntimeWarning, match="no std"):
        result = kernel_shap(coalitions, values, 0.0, 45.0, paired=True, num_batches=4)

    assert result.std is None
    assert result.converged is None
    assert "Use fewer batches" in result.extra["uncertainty_error"]
    np.testing.assert_allclose(result.values, np.arange(10.0), atol=1e-10)


def test_more_batches_than_units_leave_std_out():
    coalitions = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=bool)

    with pytest.warns(RuntimeWarning, match="exceeds the 2 sampling units"):
        result = kernel_shap(coalitions, coalitions @ np.array([1.0, 2.0, 3.0]), 0.0, 6.0, paired=True, num_batches=3)

    assert result.std is None


def test_paired_flag_checks_complements():
    coalitions = sample_shapley_kernel(5, 10, seed=0)

    with pytest.raises(ValueError, match="not complements"):
        kernel_shap(coalitions, np.zeros(10), 0.0, 1.0, paired=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"uncertainty": "jackknife"}, "uncertainty='jackknife'"),
        ({"num_batches": 1}, "at least 2 batches"),
        ({"uncertainty": "bootstrap", "num_bootstrap": 1}, "at least 2 resamples"),
        ({"weights": "uniform"}, "weights='uniform'"),
        ({"weights": np.ones(3)}, "weights has shape"),
        ({"weights": -np.ones(20)}, "non-negative"),
        ({"threshold": 0.0}, "threshold"),
    ],
)
def test_invalid_options_raise(options, message):
    coalitions = sample_shapley_kernel(4, 20, seed=0)

    with pytest.raises(ValueError, match=message):
        kernel_shap(coalitions, np.zeros(20), 0.0, 1.0, **options)


@pytest.mark.parametrize(
    ("coalitions", "values", "v_full", "message"),
    [
        (np.zeros((3, 1), bool), np.zeros(3), 1.0, "n >= 2"),
        (np.full((3, 4), 2), np.zeros(3), 1.0, "booleans or 0/1"),
        (np.zeros((3, 4), bool), np.zeros(2), 1.0, "one value per row"),
        (np.zeros((3, 4), bool), np.array([0.0, np.inf, 1.0]), 1.0, r"values\[1\]"),
        (np.zeros((3, 4), bool), np.zeros(3), np.nan, "v_full"),
    ],
)
def test_invalid_inputs_raise(coalitions, values, v_full, message):
    with pytest.raises(ValueError, match=message):
        kernel_shap(coalitions, values, 0.0, v_full)


def test_never_returns_nan_on_constant_game():
    coalitions = sample_shapley_kernel(6, 60, seed=0)

    result = kernel_shap(coalitions, np.full(60, 2.0), 2.0, 2.0, num_batches=3)

    assert np.isfinite(result.values).all()
    np.testing.assert_allclose(result.values, 0.0, atol=1e-12)
    assert result.convergence_ratio == 0.0
