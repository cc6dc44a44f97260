"""Counterfactual coalitions, relative change and the LDS budget curve."""

from functools import partial

import numpy as np
import pytest

from diffusion_credit.evaluation import (
    counterfactual_coalitions,
    lds_budget_curve,
    relative_change,
    top_contributors,
)
from diffusion_credit.valuation import kernel_shap, sample_datamodel_sets, sample_shapley_kernel


@pytest.mark.parametrize(("top_percent", "count"), [(10, 1), (30, 3), (25, 3), (100, 10), (0.1, 1)])
def test_top_contributor_count(top_percent, count):
    scores = np.arange(10.0)

    top = top_contributors(scores, top_percent)

    assert len(top) == count
    np.testing.assert_array_equal(top, np.arange(9, 9 - count, -1))


def test_top_ties_broken_by_index():
    np.testing.assert_array_equal(top_contributors(np.array([1.0, 3.0, 3.0, 0.0]), 50), [1, 2])


def test_counterfactual_coalitions_are_complements():
    scores = np.array([0.1, 0.5, -0.2, 0.9, 0.3])

    coalitions = counterfactual_coalitions(scores, top_percent=40)
    without_top, only_top = coalitions

    np.testing.assert_array_equal(only_top, [False, True, False, True, False])
    np.testing.assert_array_equal(without_top, ~only_top)
    assert coalitions.only_top is only_top


def test_counterfactual_all_removed_is_empty():
    assert not counterfactual_coalitions(np.ones(4), 100).without_top.any()


@pytest.mark.parametrize("top_percent", [0, -5, 101])
def test_invalid_top_percent_raises(top_percent):
    with pytest.raises(ValueError, match="top_percent"):
        counterfactual_coalitions(np.ones(4), top_percent)


def test_relative_change():
    assert relative_change(2.0, 1.5) == pytest.approx(-0.25)
    assert relative_change(-2.0, -1.0) == pytest.approx(0.5)
    np.testing.assert_allclose(relative_change(4.0, np.array([4.0, 5.0])), [0.0, 0.25])


@pytest.mark.parametrize("v_full", [0.0, np.nan])
def test_relative_change_undefined_reference_raises(v_full):
    with pytest.raises(ValueError, match="non-zero"):
        relative_change(v_full, 1.0)


def _interaction_game(num_contributors, seed):
    rng = np.random.default_rng(seed)
    linear = rng.normal(size=num_contributors)
    interaction = np.triu(rng.normal(scale=0.6, size=(num_contributors, num_contributors)), 1)
    return lambda z: z @ linear + np.einsum("mi,ij,mj->m", z.astype(float), interaction, z.astype(float))


def test_budget_curve_costs_and_prefixes():
    value = _interaction_game(10, 0)
    coalitions = sample_shapley_kernel(10, 200, seed=1, paired=True)
    planned = sample_datamodel_sets(10, 0.5, 3, 30, seed=2)
    sets = [(rows, value(rows)) for rows in planned]
    v_empty, v_full = 0.0, float(value(np.ones((1, 10), bool))[0])

    curve = lds_budget_curve(
        coalitions,
        value(coalitions),
        sets,
        estimate=partial(kernel_shap, v_empty=v_empty, v_full=v_full, paired=True, uncertainty="none"),
        prefix_sizes=[4, 40, 200],
        coalition_cost=0.2,
        base_cost=1.5,
    )

    assert [point.num_coalitions for point in curve] == [4, 40, 200]
    assert [point.cost for point in curve] == pytest.approx([2.3, 9.5, 41.5])
    assert curve[0].lds is None
    assert "add at least" in curve[0].error
    assert curve[1].lds is not None
    # A pairwise game is solved exactly by paired KernelSHAP, so the LDS is
    # that of the true Shapley values at every defined prefix. Coalitions whose
    # predictions tie in exact arithmetic may rank either way after rounding,
    # which moves the rank correlation in the fifth decimal.
    assert curve[2].lds.mean == pytest.approx(curve[1].lds.mean, abs=1e-3)
    assert curve[2].to_row()["lds_mean"] == curve[2].lds.mean
    assert curve[0].to_row()["lds_mean"] is None


def test_budget_curve_lds_rises_with_coalitions():
    # A third-order term keeps the sampled estimate inexact at small budgets.
    rng = np.random.default_rng(3)
    base = _interaction_game(12, 3)
    triples = [rng.choice(12, size=3, replace=False) for _ in range(10)]
    strengths = rng.normal(scale=1.5, size=10)

    def value(z):
        return base(z) + sum(strength * z[:, triple].all(axis=1) for triple, strength in zip(triples, strengths))

    planned = sample_datamodel_sets(12, 0.5, 3, 60, seed=4)
    sets = [(rows, value(rows)) for rows in planned]
    v_full = float(value(np.ones((1, 12), bool))[0])
    means = {16: [], 1024: []}
    for seed in range(5):
        coalitions = sample_shapley_kernel(12, 1024, seed=seed)
        curve = lds_budget_curve(
            coalitions,
            value(coalitions),
            sets,
            estimate=partial(kernel_shap, v_empty=0.0, v_full=v_full, uncertainty="none"),
            prefix_sizes=[16, 1024],
        )
        for point in curve:
            means[point.num_coalitions].append(point.lds.mean)

    assert np.mean(means[1024]) > np.mean(means[16])


def test_budget_curve_per_coalition_costs():
    coalitions = sample_shapley_kernel(4, 10, seed=0)
    sets = [(sample_datamodel_sets(4, 0.5, 1, 6, seed=0)[0], np.arange(6.0))]

    curve = lds_budget_curve(
        coalitions,
        coalitions @ np.arange(4.0),
        sets,
        estimate=lambda rows, values: np.arange(4.0),
        prefix_sizes=[2, 10],
        coalition_cost=np.arange(10.0),
    )

    assert [point.cost for point in curve] == [1.0, 45.0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefix_sizes": []}, "prefix_sizes is empty"),
        ({"prefix_sizes": [0, 4]}, "must lie in"),
        ({"prefix_sizes": [8, 4]}, "strictly increasing"),
        ({"prefix_sizes": [4], "coalition_cost": np.ones(3)}, "one cost per coalition"),
        ({"prefix_sizes": [4], "coalition_cost": -1.0}, "non-negative"),
    ],
)
def test_budget_curve_invalid_options_raise(options, message):
    coalitions = sample_shapley_kernel(4, 10, seed=0)

    with pytest.raises(ValueError, match=message):
        lds_budget_curve(coalitions, np.zeros(10), [], estimate=lambda rows, values: np.zeros(4), **options)
