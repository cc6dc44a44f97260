"""Tests for the Inception Score: closed forms, splits, and the study backend end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_credit.properties import build_property, inception_score, kl_to_marginal
from diffusion_credit.properties.inception_score import inception_score_splits

from conftest import to_uint8


@pytest.mark.parametrize("classes", [1, 2, 5, 10])
def test_one_hot_distinct_classes_score_k(classes):
    probs = np.eye(classes)
    assert inception_score(probs) == pytest.approx(classes, rel=1e-12)


def test_one_hot_with_unused_classes_scores_k():
    probs = np.zeros((4, 10))
    probs[np.arange(4), [1, 3, 5, 7]] = 1.0
    assert inception_score(probs) == pytest.approx(4.0, rel=1e-12)


def test_identical_predictions_score_one():
    rng = np.random.default_rng(0)
    row = rng.dirichlet(np.ones(7))
    probs = np.tile(row, (12, 1))
    assert inception_score(probs) == pytest.approx(1.0, abs=1e-12)


def test_zero_probabilities_contribute_nothing():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    kl = kl_to_marginal(probs)
    assert np.isfinite(kl).all()
    assert kl == pytest.approx(np.full(4, math.log(2)))


def test_known_kl_value():
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])
    marginal = np.array([0.75, 0.25])
    expected = np.array(
        [0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25), math.log(1 / 0.75)]
    )
    assert kl_to_marginal(probs) == pytest.approx(expected)
    assert inception_score(probs) == pytest.approx(math.exp(expected.mean()))
    assert marginal.sum() == 1


def test_splits_average_chunk_scores():
    diverse = np.eye(4)
    collapsed = np.tile([0.0, 1.0, 0.0, 0.0], (4, 1))
    probs = np.concatenate([diverse, collapsed])
    assert inception_score_splits(probs, 2) == pytest.approx([4.0, 1.0])
    assert inception_score(probs, splits=2) == pytest.approx(2.5)
    assert inception_score(probs, splits=1) != pytest.approx(2.5)


def test_splits_of_unequal_size():
    probs = np.eye(5)
    assert inception_score_splits(probs, 2) == pytest.approx([3.0, 2.0])


def test_splits_more_than_images_rejected():
    with pytest.raises(ValueError, match="splits=4 exceeds the number of images 3"):
        inception_score(np.eye(3), splits=4)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.array([[0.5, 0.6]]), "sum to 1"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.array([[-0.5, 1.5]]), "non-negative"),
        (np.ones(3) / 3, "shape \\[N, K\\]"),
        (np.zeros((0, 3)), "shape \\[N, K\\]"),
    ],
)
def test_invalid_probabilities_rejected(probs, message):
    with pytest.raises(ValueError, match=message):
        inception_score(probs)


@pytest.fixture(scope="module")
def study_is(study_images, study_config, property_cache):
    return build_property(study_config, dataset=study_images, cache_dir=property_cache, progress=False)


def test_study_backend_on_real_images(study_is, study_images):
    images = to_uint8(study_images.images)
    result = study_is(images)
    assert 1.0 < result.value <= 3.0
    assert result.per_image.shape == (len(images),)
    assert result.value == pytest.approx(math.exp(result.per_image.mean()))


def test_study_backend_identical_images_score_one(study_is, study_images):
    images = to_uint8(study_images.images[:1]).repeat(8, 1, 1, 1)
    assert study_is(images).value == pytest.approx(1.0, abs=1e-6)


def test_study_settings_identify_network(study_is, study_config):
    settings = study_is.settings
    assert settings["name"] == "inception_score"
    assert settings["backend"] == "study"
    assert settings["splits"] == study_config.splits
    assert settings["classifier"]["steps"] == study_config.classifier_steps
    assert settings["digest"] == study_is.backend.classifier.digest


def test_study_backend_rejects_other_resolution(study_is):
    with pytest.raises(ValueError, match="generate at data.resolution=16"):
        study_is(torch.zeros(4, 3, 32, 32, dtype=torch.uint8))


def test_study_backend_rejects_grayscale_for_rgb_study(study_is):
    with pytest.raises(ValueError, match="data.channels=3"):
        study_is(torch.zeros(4, 1, 16, 16, dtype=torch.uint8))
