"""Tests for the Fréchet distance diagnostic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import linalg

from diffusion_credit.properties import build_property, frechet_distance, training_fid

from conftest import to_uint8


@pytest.fixture
def features():
    return np.random.default_rng(0).standard_normal((64, 6))


def test_fid_of_set_with_itself_is_zero(features):
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_shifted_set_is_squared_shift(features):
    shift = 0.5
    expected = features.shape[1] * shift**2
    assert frechet_distance(features, features + shift) == pytest.approx(expected, rel=1e-6)


def test_fid_of_scaled_set(features):
    # With b = 2a: Σ_b = 4 Σ_a and (Σ_a Σ_b)^{1/2} = 2 Σ_a, so FID = |μ_a|² + Tr(Σ_a).
    mean = features.mean(axis=0)
    expected = mean @ mean + np.trace(np.cov(features, rowvar=False))
    assert frechet_distance(features, 2 * features) == pytest.approx(expected, rel=1e-6)


def test_fid_is_symmetric(features):
    other = np.random.default_rng(1).standard_normal((40, 6)) * 1.5
    assert frechet_distance(features, other) == pytest.approx(frechet_distance(other, features), rel=1e-6)


def test_fid_with_fewer_rows_than_dimensions():
    # 5 images in a 20-dimensional feature space: both covariances are singular, of rank 4.
    features = np.random.default_rng(2).standard_normal((5, 20))
    shift = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distance = frechet_distance(features, features + shift)
    assert distance == pytest.approx(20 * shift**2, rel=1e-9)


def test_fid_matches_scipy_sqrtm_when_well_conditioned(features):
    other = np.random.default_rng(1).standard_normal((40, 6)) * 1.5 + 0.2
    sigma_a, sigma_b = np.cov(features, rowvar=False), np.cov(other, rowvar=False)
    mean_gap = features.mean(axis=0) - other.mean(axis=0)
    expected = mean_gap @ mean_gap + np.trace(sigma_a + sigma_b - 2 * np.real(linalg.sqrtm(sigma_a @ sigma_b)))
    assert frechet_distance(features, other) == pytest.approx(expected, rel=1e-9)


def test_fid_rejects_mismatched_dimensions(features):
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(features, features[:, :3])


def test_fid_rejects_single_row(features):
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(features[:1], features)


def test_training_fid_of_training_images_is_zero(study_images, study_config, property_cache):
    prop = build_property(study_config, dataset=study_images, cache_dir=property_cache, progress=False)
    images = to_uint8(study_images.images)
    assert training_fid(prop.backend, images, study_images) == pytest.approx(0.0, abs=1e-4)
    assert training_fid(prop.backend, images[:16], study_images) > 0.1
