"""Tests for the cluster entropy property and its Ward reference clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties import ClusterEntropy, build_property, entropy, fit_ward_clusters
from diffusion_credit.properties import cluster_entropy as cluster_module
from diffusion_credit.properties.backends import EmbeddingBackend

from conftest import to_uint8


class MeanColourBackend(EmbeddingBackend):
    """Embeds an image as its mean RGB value in [0, 1], so clusters are known in advance."""

    kind = "mean-colour"

    @property
    def settings(self):
        return {"backend": self.kind}

    def _features(self, images):
        return images.float().mean(dim=(2, 3)) / 255


def grey_images(levels, copies):
    """Return uint8 [len(levels) * copies, 3, 4, 4] images, each a uniform grey level."""
    values = torch.tensor(levels, dtype=torch.uint8).repeat_interleave(copies)
    return values.view(-1, 1, 1, 1).expand(-1, 3, 4, 4).contiguous()


LEVELS = [0, 60, 120, 180, 240]


@pytest.mark.parametrize("clusters", [2, 5, 20])
def test_balanced_clusters_give_log_k(clusters):
    labels = np.repeat(np.arange(clusters), 3)
    assert entropy(labels, clusters) == pytest.approx(math.log(clusters))


def test_one_cluster_gives_zero():
    assert entropy(np.zeros(10, dtype=int), 20) == 0.0


def test_known_entropy():
    labels = np.array([0, 0, 0, 1])
    assert entropy(labels, 3) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_entropy_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="in \\[0, 2\\)"):
        entropy(np.array([0, 2]), 2)


def test_ward_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    features = np.concatenate([centre + 0.1 * rng.standard_normal((8, 2)) for centre in centres])
    reference = fit_ward_clusters(features, 3)
    labels = reference.assign(centres)
    assert sorted(labels) == [0, 1, 2]
    for centre, label in zip(centres, labels):
        assert np.linalg.norm(reference.centroids[label] - centre) < 0.2


def test_ward_needs_enough_references():
    with pytest.raises(ValueError, match="at least 5 reference embeddings"):
        fit_ward_clusters(np.zeros((3, 2)), 5)


def test_property_balanced_and_collapsed(tmp_path):
    prop = ClusterEntropy(MeanColourBackend(), num_clusters=len(LEVELS), cache_dir=tmp_path)
    prop.fit_reference(grey_images(LEVELS, copies=4))
    balanced = prop(grey_images([level + 3 for level in LEVELS], copies=2))
    collapsed = prop(grey_images([121], copies=6))
    assert balanced.value == pytest.approx(math.log(len(LEVELS)))
    assert collapsed.value == 0.0
    assert len(set(balanced.per_image.tolist())) == len(LEVELS)


def test_property_requires_reference(tmp_path):
    prop = ClusterEntropy(MeanColourBackend(), num_clusters=3, cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="call fit_reference"):
        prop(grey_images(LEVELS, copies=1))


def test_reference_fit_is_cached(tmp_path, monkeypatch):
    reference_images = grey_images(LEVELS, copies=3)
    first = ClusterEntropy(MeanColourBackend(), num_clusters=len(LEVELS), cache_dir=tmp_path)
    fitted = first.fit_reference(reference_images)

    def fail(*args, **kwargs):
        raise AssertionError("the reference clusters were fit again instead of loaded")

    monkeypatch.setattr(cluster_module, "fit_ward_clusters", fail)
    second = ClusterEntropy(MeanColourBackend(), num_clusters=len(LEVELS), cache_dir=tmp_path)
    loaded = second.fit_reference(reference_images)
    assert loaded.digest == fitted.digest
    np.testing.assert_array_equal(loaded.centroids, fitted.centroids)
    assert second.settings["reference"] == fitted.digest


def test_reference_digest_depends_on_images(tmp_path):
    prop = ClusterEntropy(MeanColourBackend(), num_clusters=3, cache_dir=tmp_path)
    one = prop.fit_reference(grey_images(LEVELS, copies=2)).digest
    two = prop.fit_reference(grey_images(LEVELS, copies=3)).digest
    assert one != two


def test_num_clusters_below_two_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        ClusterEntropy(MeanColourBackend(), num_clusters=1, cache_dir=tmp_path)


def test_study_backend_end_to_end(study_images, property_cache):
    config = PropertyConfig(name="cluster_entropy", num_clusters=4, classifier_steps=60, batch_size=32)
    prop = build_property(config, dataset=study_images, cache_dir=property_cache, progress=False)
    images = to_uint8(study_images.images)
    prop.fit_reference(images)
    result = prop(images)
    assert 0.0 < result.value <= math.log(4) + 1e-12
    assert result.settings["num_clusters"] == 4
    assert result.settings["log_base"] == "e"
    assert result.settings["backend"] == "study"
    assert prop(images[:1].repeat(5, 1, 1, 1)).value == 0.0
