"""Leave-one-out, the per-image property baseline, and λ selection on held-out coalitions."""

import itertools

import numpy as np
import pytest

from diffusion_credit.baselines import additive_predictions, leave_one_out, mean_property_score, select_ridge_lambda


def _game(bits: str) -> float:
    """v(S) = Σ w_i + 5·[0 ∈ S and 1 ∈ S], so LOO of 0 and 1 includes the interaction."""
    weights = [1.0, 2.0, 4.0]
    members = [i for i, bit in enumerate(bits) if bit == "1"]
    return sum(weights[i] for i in members) + (5.0 if {0, 1} <= set(members) else 0.0)


def test_leave_one_out_on_closed_form_game():
    values = {"".join(bits): _game("".join(bits)) for bits in itertools.product("01", repeat=3)}
    np.testing.assert_allclose(leave_one_out(values, 3), [6.0, 7.0, 4.0])


def test_leave_one_out_needs_every_coalition():
    values = {"111": 1.0, "011": 0.5, "101": 0.2}
    with pytest.raises(ValueError, match="'110'"):
        leave_one_out(values, 3)
    with pytest.raises(ValueError, match="'1x1'"):
        leave_one_out({"1x1": 0.0}, 3)


def test_mean_property_score_per_contributor():
    scores = np.array([1.0, 3.0, 10.0, 2.0])
    labels = np.array([0, 0, 1, 2])
    np.testing.assert_allclose(mean_property_score(scores, labels), [2.0, 10.0, 2.0])
    with pytest.raises(ValueError, match=r"\[3\]"):
        mean_property_score(scores, labels, num_contributors=4)
    with pytest.raises(ValueError, match="NaN"):
        mean_property_score(np.array([np.nan, 1.0, 1.0, 1.0]), labels)


def test_select_ridge_lambda_picks_best_on_holdout():
    rng = np.random.default_rng(0)
    true_scores = np.array([3.0, -1.0, 0.5, 2.0, 0.0])
    coalitions = rng.random((20, 5)) < 0.5
    values = additive_predictions(coalitions, true_scores) + 0.01 * rng.normal(size=20)
    by_lambda = {0.1: -true_scores, 0.5: true_scores, 1.0: np.ones(5), 10.0: rng.normal(size=5)}

    selection = select_ridge_lambda(list(by_lambda), coalitions, values, lambda value: by_lambda[value])

    assert selection.ridge_lambda == 0.5
    np.testing.assert_array_equal(selection.scores, true_scores)
    assert selection.spearman[1] > 0.95
    assert selection.spearman[0] < -0.95
    assert selection.lambdas == [0.1, 0.5, 1.0, 10.0]


def test_select_ridge_lambda_rejects_bad_holdout():
    coalitions = np.ones((5, 3), dtype=bool)
    with pytest.raises(ValueError, match="at least 3"):
        select_ridge_lambda([0.5], coalitions[:2], np.zeros(2), lambda value: np.zeros(3))
    with pytest.raises(ValueError, match="bool"):
        select_ridge_lambda([0.5], coalitions.astype(int), np.zeros(5), lambda value: np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \[5\]"):
        select_ridge_lambda([0.5], coalitions, np.zeros(4), lambda value: np.zeros(3))
    with pytest.raises(ValueError, match="expected \\[3\\]"):
        select_ridge_lambda([0.5], coalitions, np.arange(5.0), lambda value: np.zeros(2))
    with pytest.raises(ValueError, match="constant"):
        select_ridge_lambda([0.5], coalitions, np.arange(5.0), lambda value: np.zeros(3))
    with pytest.raises(ValueError, match="non-empty"):
        select_ridge_lambda([], coalitions, np.arange(5.0), lambda value: np.zeros(3))
