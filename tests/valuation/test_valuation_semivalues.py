"""Banzhaf MSR, leave-one-out, agreement with shap, config-driven planning."""

import numpy as np
import pytest

from diffusion_credit.config import ValuationConfig
from diffusion_credit.valuation import (
    banzhaf_msr,
    coalition_to_bits,
    convergence_ratio,
    enumerate_coalitions,
    estimate,
    exact_banzhaf,
    exact_shapley,
    forecast_num_coalitions,
    kernel_shap,
    leave_one_out,
    leave_one_out_coalitions,
    lookup_values,
    plan_coalitions,
    sample_uniform,
)


def test_banzhaf_msr_close_to_exact(random_interaction_game):
    exact = exact_banzhaf(random_interaction_game.table()).values
    coalitions = sample_uniform(8, 20000, seed=0)

    result = banzhaf_msr(coalitions, random_interaction_game.value(coalitions))

    np.testing.assert_allclose(result.values, exact, atol=4 * result.std.max())
    assert np.abs(result.values - exact).max() < 0.1
    assert result.estimator == "banzhaf_msr"


def test_banzhaf_msr_std_matches_spread(random_interaction_game):
    estimates = []
    stds = []
    for seed in range(30):
        coalitions = sample_uniform(8, 400, seed=seed)
        result = banzhaf_msr(coalitions, random_interaction_game.value(coalitions))
        estimates.append(result.values)
        stds.append(result.std)

    ratio = np.mean(stds, axis=0) / np.std(estimates, axis=0, ddof=1)

    assert ratio.min() > 0.6
    assert ratio.max() < 1.6


def test_banzhaf_msr_is_exact_on_all_coalitions(games):
    game = games["unanimity"]
    coalitions = enumerate_coalitions(game.num_players)

    np.testing.assert_allclose(banzhaf_msr(coalitions, game.table()).values, game.banzhaf, atol=1e-12)


def test_banzhaf_msr_stable_for_large_offset(random_interaction_game):
    coalitions = sample_uniform(8, 2000, seed=1)
    values = random_interaction_game.value(coalitions)

    shifted = banzhaf_msr(coalitions, values + 1e8)
    plain = banzhaf_msr(coalitions, values)

    np.testing.assert_allclose(shifted.values, plain.values, atol=1e-6)
    np.testing.assert_allclose(shifted.std, plain.std, rtol=1e-4)


def test_banzhaf_msr_too_few_raises():
    coalitions = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)

    with pytest.raises(ValueError, match="contributor 0 is in 2 and out of 1"):
        banzhaf_msr(coalitions, np.arange(3.0))


def test_leave_one_out_exact(closed_form_game):
    table = closed_form_game.table()
    coalitions = leave_one_out_coalitions(closed_form_game.num_players)
    values = closed_form_game.value(coalitions)
    order = np.random.default_rng(0).permutation(len(coalitions))
    expected = table[-1] - values

    result = leave_one_out(coalitions[order], values[order], table[-1])

    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.std is None
    assert result.num_coalitions == closed_form_game.num_players + 1


def test_leave_one_out_glove_closed_form(games):
    # Removing the only left glove loses the pair; a right glove is replaceable.
    game = games["glove"]
    coalitions = leave_one_out_coalitions(3)

    result = leave_one_out(coalitions, game.value(coalitions), 1.0)

    np.testing.assert_allclose(result.values, [1.0, 0.0, 0.0])


def test_leave_one_out_averages_repeats_and_ignores_others():
    coalitions = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=bool)
    values = np.array([1.0, 2.0, 3.0, 2.0, 99.0])

    result = leave_one_out(coalitions, values, 5.0)

    np.testing.assert_allclose(result.values, [3.5, 3.0, 2.0])
    np.testing.assert_array_equal(result.extra["repeats"], [2, 1, 1])


def test_leave_one_out_missing_raises():
    coalitions = leave_one_out_coalitions(4)[:2]

    with pytest.raises(ValueError, match=r"2 are missing \(contributor positions \[2, 3\]\); evaluate, for each"):
        leave_one_out(coalitions, np.zeros(2), 1.0)


def test_agrees_with_shap_kernel_explainer(games):
    shap = pytest.importorskip("shap")
    for name in ("pairwise", "unanimity", "weighted_majority"):
        game = games[name]
        n = game.num_players
        table = game.table()

        def model(masks):
            return game.value(np.asarray(masks) > 0.5)

        explainer = shap.KernelExplainer(model, np.zeros((1, n)))
        shap_values = np.asarray(explainer.shap_values(np.ones((1, n)), nsamples=2**n, l1_reg=False, silent=True)).ravel()
        ours = kernel_shap(enumerate_coalitions(n), table, table[0], table[-1], weights="kernel", uncertainty="none")

        np.testing.assert_allclose(shap_values, game.shapley, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(ours.values, shap_values, atol=1e-8, err_msg=name)


@pytest.mark.parametrize(
    ("estimator", "expected_rows", "expected_name"),
    [("kernelshap", 40, "kernelshap"), ("exact", 64, "exact_shapley"), ("banzhaf", 40, "banzhaf_msr"), ("loo", 6, "loo")],
)
def test_plan_and_estimate_from_config(games, estimator, expected_rows, expected_name):
    game = games["pairwise"]
    table = game.table()
    config = ValuationConfig(estimator=estimator, num_coalitions=40, num_batches=2, seed=3)

    planned = plan_coalitions(config, 6)
    evaluated = {coalition_to_bits(row): value for row, value in zip(enumerate_coalitions(6), table)}
    values = lookup_values(planned, evaluated)
    result = estimate(config, planned, values, v_empty=table[0], v_full=table[-1])

    assert planned.shape == (expected_rows, 6)
    np.testing.assert_array_equal(plan_coalitions(config, 6), planned)
    assert result.estimator == expected_name
    if estimator in ("kernelshap", "exact"):
        # Paired KernelSHAP is exact on a pairwise game.
        np.testing.assert_allclose(result.values, game.shapley, atol=1e-10)
    if estimator == "kernelshap":
        np.testing.assert_array_equal(planned[1::2], ~planned[0::2])
    if estimator == "loo":
        np.testing.assert_allclose(result.values, table[-1] - game.value(planned), atol=1e-12)


def test_lookup_values_missing_raises():
    planned = enumerate_coalitions(2)

    with pytest.raises(KeyError, match="2 of the 4 planned coalitions have no value"):
        lookup_values(planned, {"00": 0.0, "11": 1.0})


def test_estimate_exact_from_config_matches_exact_shapley(games):
    game = games["glove"]
    table = game.table()
    coalitions = enumerate_coalitions(3)

    result = estimate(ValuationConfig(estimator="exact"), coalitions, table, v_empty=table[0], v_full=table[-1])

    np.testing.assert_allclose(result.values, exact_shapley(table).values)


def test_convergence_helpers():
    assert convergence_ratio(np.array([0.0, 2.0]), np.array([0.01, 0.02])) == pytest.approx(0.01)
    assert convergence_ratio(np.ones(3), np.zeros(3)) == 0.0
    assert convergence_ratio(np.ones(3), np.full(3, 0.1)) == float("inf")
    assert forecast_num_coalitions(0.02, 100, 0.01) == 400
    assert forecast_num_coalitions(0.005, 100, 0.01) == 100
    assert forecast_num_coalitions(float("inf"), 100) is None


def test_result_rows_and_csv(tmp_path, games):
    game = games["glove"]
    table = game.table()
    exact = exact_shapley(table)
    sampled = kernel_shap(enumerate_coalitions(3), table, table[0], table[-1], weights="kernel", num_batches=2)

    path = exact.write_csv(tmp_path / "attribution.csv", ["left", "right_a", "right_b"])
    lines = path.read_text().splitlines()

    assert lines[0] == "contributor,score,std"
    assert lines[1].startswith("left,0.6666")
    assert lines[1].endswith(",")
    assert sampled.to_rows(["l", "a", "b"])[0]["std"] is not None
    np.testing.assert_array_equal(exact.ranking(), [0, 1, 2])
    with pytest.raises(ValueError, match="3 values"):
        exact.to_rows(["only_one"])
