import numpy as np

from diffusion_credit.valuation import kernel_shap, sample_shapley_kernel


def test_bootstrap_skips_unidentifiable_resamples():
    # 48 paired coalitions of 10 contributors: most but not all resamples determine the values.
    weights = np.random.default_rng(0).normal(size=10)
    coalitions = sample_shapley_kernel(10, 48, seed=0, paired=True)
    values = coalitions @ weights

    result = kernel_shap(coalitions, values, 0.0, weights.sum(), paired=True, uncertainty="bootstrap", num_bootstrap=100)

    assert result.std is not None
    assert np.isfinite(result.std).all()
    assert 50 <= result.extra["num_bootstrap_used"] < 100
    np.testing.assert_allclose(result.values, weights, atol=1e-9)
