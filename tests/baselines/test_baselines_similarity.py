"""Similarity baselines on hand-built images whose best contributor is known."""

import numpy as np
import pytest
import torch

from diffusion_credit.baselines import embedding_similarity, pixel_similarity


def _hand_built():
    """Build contributor 0 from one copy of the generated image and two negatives, contributor 1 from three near-copies."""
    generator = torch.Generator().manual_seed(0)
    pattern = torch.rand(1, 3, 4, 4, generator=generator) * 1.6 - 0.8
    noise = torch.rand(3, 3, 4, 4, generator=generator) * 0.4 - 0.2
    contributor_0 = torch.cat([pattern, -pattern, -pattern])
    contributor_1 = 0.6 * pattern + noise
    images = torch.cat([contributor_0, contributor_1])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    return images, labels, pattern


def test_pixel_similarity_max_and_mean_pick_known_contributor():
    images, labels, pattern = _hand_built()

    by_max = pixel_similarity(images, labels, pattern, aggregate="max")
    by_mean = pixel_similarity(images, labels, pattern, aggregate="mean")

    assert by_max.shape == (2,)
    np.testing.assert_allclose(by_max[0], 1.0, atol=1e-6)
    assert np.argmax(by_max) == 0
    np.testing.assert_allclose(by_mean[0], -1 / 3, atol=1e-6)
    assert np.argmax(by_mean) == 1


def test_pixel_similarity_accepts_uint8_generated():
    images, labels, pattern = _hand_built()
    as_uint8 = ((pattern + 1) * 127.5).round().to(torch.uint8)
    scores = pixel_similarity(images, labels, as_uint8, aggregate="max")
    assert scores[0] > 0.999


def test_pixel_similarity_averages_over_generated_images():
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2)
    labels = torch.tensor([0, 1])
    generated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).view(3, 1, 1, 2)
    np.testing.assert_allclose(pixel_similarity(images, labels, generated), [2 / 3, 1 / 3])


def test_embedding_similarity_uses_features():
    # Contributor 0 is red and contributor 1 is blue. The generated image is blue.
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    blue = torch.tensor([-1.0, -1.0, 1.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    images = torch.cat([red, blue])
    labels = torch.tensor([0, 0, 1, 1])
    generated = blue[:1] * 0.5

    def mean_colour(batch):
        return batch.mean(dim=(2, 3))

    scores = embedding_similarity(images, labels, generated, mean_colour, aggregate="mean", batch_size=3)
    np.testing.assert_allclose(scores, [-1 / 3, 1.0], atol=1e-6)


def test_similarity_rejects_bad_input():
    images, labels, pattern = _hand_built()
    with pytest.raises(ValueError, match="mean, max"):
        pixel_similarity(images, labels, pattern, aggregate="median")
    with pytest.raises(ValueError, match="outside"):
        pixel_similarity(images * 3, labels, pattern)
    with pytest.raises(ValueError, match="same shape"):
        pixel_similarity(images, labels, pattern[:, :, :2])
    with pytest.raises(ValueError, match=r"shape \[6\]"):
        pixel_similarity(images, labels[:5], pattern)
    with pytest.raises(ValueError, match="no training images"):
        pixel_similarity(images, labels, pattern, num_contributors=3)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        pixel_similarity(images, labels, pattern, num_contributors=1)
    with pytest.raises(ValueError, match=r"\[1, D\]"):
        embedding_similarity(images, labels, pattern, lambda batch: batch.mean(), aggregate="mean")
