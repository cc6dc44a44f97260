"""Tests for the property registry and the input checks every property shares."""

from __future__ import annotations

import pytest
import torch

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties import GlobalProperty, PropertyResult, build_property, register_property
from diffusion_credit.properties import registered_properties


@pytest.fixture(scope="module")
def study_is(study_images, study_config, property_cache):
    return build_property(study_config, dataset=study_images, cache_dir=property_cache, progress=False)


def test_builtin_properties_registered():
    assert {"inception_score", "cluster_entropy", "aesthetic_score"} <= set(registered_properties())


def test_unknown_property_suggests_name():
    with pytest.raises(ValueError, match="Did you mean 'inception_score'"):
        build_property(PropertyConfig(name="inception_scor"), dataset=None)


def test_custom_property_is_built_from_registry():
    @register_property("mean_brightness_test")
    class MeanBrightness(GlobalProperty):
        settings = {"name": "mean_brightness_test"}

        @classmethod
        def from_config(cls, config, **kwargs):
            return cls()

        def compute(self, images):
            per_image = images.float().mean(dim=(1, 2, 3)).double().numpy()
            return PropertyResult(float(per_image.mean()), per_image, self.settings)

    prop = build_property(PropertyConfig(name="mean_brightness_test"), dataset=None)
    result = prop(torch.full((2, 1, 4, 4), 10, dtype=torch.uint8))
    assert result.value == 10.0
    assert MeanBrightness.name == "mean_brightness_test"


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="already registered"):

        @register_property("inception_score")
        class Other(GlobalProperty):
            pass


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (torch.zeros(0, 3, 16, 16, dtype=torch.uint8), ValueError, "empty batch"),
        (torch.zeros(2, 3, 16, 16), TypeError, "torch.uint8"),
        (torch.full((2, 3, 16, 16), float("nan")), TypeError, "torch.uint8"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), ValueError, "shape \\[N, C, H, W\\]"),
        (torch.zeros(2, 2, 16, 16, dtype=torch.uint8), ValueError, "1 or 3 channels"),
        (torch.zeros(2, 16, 16, 3, dtype=torch.uint8), ValueError, "permute"),
        ([[0, 1]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_images_rejected(study_is, images, error, message):
    with pytest.raises(error, match=message):
        study_is(images)


def test_splits_validated(study_images, property_cache):
    config = PropertyConfig(splits=0, classifier_steps=60, batch_size=32)
    with pytest.raises(ValueError, match="property.splits must be a positive integer"):
        build_property(config, dataset=study_images, cache_dir=property_cache, progress=False)


def test_quantile_validated():
    from diffusion_credit.properties import AestheticScore
    from diffusion_credit.properties.backends import EmbeddingBackend

    class ConstantBackend(EmbeddingBackend):
        kind = "constant"
        settings = {"backend": "constant"}

        def _features(self, images):
            return torch.ones(images.shape[0], 4)

    with pytest.raises(ValueError, match="property.quantile must be in \\[0, 1\\]"):
        AestheticScore(ConstantBackend(), torch.nn.Linear(4, 1), head_source="x", quantile=1.5)
