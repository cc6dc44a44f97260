"""Coalition samplers: determinism, distributions, pairing, sizes, bitstrings."""

import numpy as np
import pytest
from scipy import stats

from diffusion_credit.valuation import (
    bits_to_coalition,
    coalition_to_bits,
    datamodel_coalition_size,
    enumerate_coalitions,
    leave_one_out_coalitions,
    sample_datamodel_sets,
    sample_shapley_kernel,
    sample_uniform,
    shapley_kernel_size_probabilities,
    shapley_kernel_weights,
)

SAMPLERS = {
    "kernel": lambda m, seed: sample_shapley_kernel(9, m, seed=seed),
    "kernel_paired": lambda m, seed: sample_shapley_kernel(9, m, seed=seed, paired=True),
    "uniform": lambda m, seed: sample_uniform(9, m, seed=seed),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_contract(name):
    sample = SAMPLERS[name]

    first = sample(40, 3)
    again = sample(40, 3)
    other_seed = sample(40, 4)
    longer = sample(5000, 3)

    assert first.dtype == bool
    assert first.shape == (40, 9)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    np.testing.assert_array_equal(longer[:40], first)


def test_kernel_size_probabilities():
    probabilities = shapley_kernel_size_probabilities(5)
    sizes = np.arange(1, 5)
    expected = 4 / (sizes * (5 - sizes))

    np.testing.assert_allclose(probabilities, expected / expected.sum())
    assert probabilities.sum() == pytest.approx(1.0)


def test_kernel_size_distribution_chi_square():
    num_contributors, num_coalitions = 12, 20000
    coalitions = sample_shapley_kernel(num_contributors, num_coalitions, seed=0)
    sizes = coalitions.sum(axis=1)

    observed = np.bincount(sizes, minlength=num_contributors + 1)
    expected = shapley_kernel_size_probabilities(num_contributors) * num_coalitions

    assert observed[0] == 0
    assert observed[num_contributors] == 0
    assert stats.chisquare(observed[1:num_contributors], expected).pvalue > 1e-3


def test_kernel_members_uniform_given_size():
    coalitions = sample_shapley_kernel(6, 30000, seed=1)
    size_two = coalitions[coalitions.sum(axis=1) == 2]
    pair_codes = size_two @ (1 << np.arange(6))

    counts = np.unique(pair_codes, return_counts=True)[1]

    assert len(counts) == 15
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("num_contributors", [2, 3, 8])
def test_kernel_pairing(num_contributors):
    coalitions = sample_shapley_kernel(num_contributors, 200, seed=2, paired=True)

    np.testing.assert_array_equal(coalitions[1::2], ~coalitions[0::2])
    sizes = coalitions.sum(axis=1)
    assert sizes.min() >= 1
    assert sizes.max() <= num_contributors - 1


def test_kernel_pairing_odd_count_raises():
    with pytest.raises(ValueError, match="odd"):
        sample_shapley_kernel(5, 7, seed=0, paired=True)


@pytest.mark.parametrize("num_contributors", [0, 1])
def test_kernel_needs_two_contributors(num_contributors):
    with pytest.raises(ValueError):
        sample_shapley_kernel(num_contributors, 4, seed=0)


def test_sampler_rejects_float_seed():
    with pytest.raises(TypeError, match="seed must be an int"):
        sample_uniform(4, 4, seed=0.5)


def test_uniform_inclusion_rate():
    coalitions = sample_uniform(10, 20000, seed=0)

    np.testing.assert_allclose(coalitions.mean(axis=0), 0.5, atol=0.02)


def test_leave_one_out_coalitions():
    coalitions = leave_one_out_coalitions(4)

    assert coalitions.shape == (4, 4)
    np.testing.assert_array_equal(np.diag(coalitions), False)
    assert coalitions.sum() == 12


@pytest.mark.parametrize(("alpha", "num_contributors", "size"), [(0.5, 20, 10), (0.25, 10, 3), (0.75, 10, 8), (0.5, 5, 3)])
def test_datamodel_set_sizes(alpha, num_contributors, size):
    sets = sample_datamodel_sets(num_contributors, alpha, num_sets=3, coalitions_per_set=50, seed=5)

    assert datamodel_coalition_size(num_contributors, alpha) == size
    assert sets.shape == (3, 50, num_contributors)
    np.testing.assert_array_equal(sets.sum(axis=2), size)


def test_datamodel_sets_are_independent_and_stable():
    three = sample_datamodel_sets(20, 0.5, num_sets=3, coalitions_per_set=30, seed=5)
    four = sample_datamodel_sets(20, 0.5, num_sets=4, coalitions_per_set=30, seed=5)

    np.testing.assert_array_equal(four[:3], three)
    assert not np.array_equal(three[0], three[1])


def test_distinct_datamodel_sets_extend_plain_draw():
    # 16 draws from the 252 coalitions of size 5 among 10 repeat one with probability ≈ 0.38 per set.
    plain = sample_datamodel_sets(10, 0.5, num_sets=20, coalitions_per_set=16, seed=0)
    distinct = sample_datamodel_sets(10, 0.5, num_sets=20, coalitions_per_set=16, seed=0, distinct=True)

    repeated = 0
    for plain_set, distinct_set in zip(plain, distinct):
        keys = [row.tobytes() for row in distinct_set]
        assert len(set(keys)) == 16
        first = list(dict.fromkeys(row.tobytes() for row in plain_set))
        assert keys[: len(first)] == first
        repeated += len(first) < 16
    assert repeated > 0, "no set repeated a coalition, so this seed does not test the extra draws"
    np.testing.assert_array_equal(distinct.sum(axis=2), 5)


def test_distinct_datamodel_sets_reject_too_many():
    assert sample_datamodel_sets(4, 0.5, num_sets=2, coalitions_per_set=6, seed=1, distinct=True).shape == (2, 6, 4)
    with pytest.raises(ValueError, match="coalitions_per_set=7 exceeds the 6 distinct coalitions of size 2 among 4"):
        sample_datamodel_sets(4, 0.5, num_sets=1, coalitions_per_set=7, seed=1, distinct=True)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.01, 0.99])
def test_datamodel_degenerate_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        sample_datamodel_sets(10, alpha, num_sets=1, coalitions_per_set=4, seed=0)


def test_enumeration_order_and_size():
    coalitions = enumerate_coalitions(3)

    assert coalitions.shape == (8, 3)
    assert coalition_to_bits(coalitions[0]) == "000"
    assert coalition_to_bits(coalitions[1]) == "100"
    assert coalition_to_bits(coalitions[6]) == "011"
    assert coalition_to_bits(coalitions[-1]) == "111"
    assert len({coalition_to_bits(row) for row in coalitions}) == 8


def test_bits_round_trip():
    coalitions = sample_uniform(7, 50, seed=9)

    for row in coalitions:
        np.testing.assert_array_equal(bits_to_coalition(coalition_to_bits(row), 7), row)
    assert coalition_to_bits([1, 0, 1]) == "101"


@pytest.mark.parametrize(("bits", "message"), [("01x1", "only '0' and '1'"), ("", "non-empty"), ("0101", "4 characters")])
def test_bits_invalid_raise(bits, message):
    with pytest.raises(ValueError, match=message):
        bits_to_coalition(bits, num_contributors=5 if bits == "0101" else None)


def test_coalition_to_bits_rejects_matrix():
    with pytest.raises(ValueError, match="one-dimensional"):
        coalition_to_bits(np.zeros((2, 2), dtype=bool))


def test_kernel_weights():
    coalitions = enumerate_coalitions(4)
    weights = shapley_kernel_weights(coalitions)
    sizes = coalitions.sum(axis=1)

    assert np.isinf(weights[0])
    assert np.isinf(weights[-1])
    # (n − 1) / (C(n, k) k (n − k)) for n = 4: k=1 -> 3/12, k=2 -> 3/24.
    np.testing.assert_allclose(weights[sizes == 1], 3 / 12)
    np.testing.assert_allclose(weights[sizes == 2], 3 / 24)
