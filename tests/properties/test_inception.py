"""Tests for the FID Inception-v3 backend with random weights saved to a local file."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties import build_property
from diffusion_credit.properties.backends import module_digest
from diffusion_credit.properties.inception import FIDInceptionV3, load_fid_inception


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = FIDInceptionV3()
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save(network.state_dict(), path)
    return path, network


def test_architecture_matches_published_size():
    network = FIDInceptionV3()
    parameters = sum(parameter.numel() for parameter in network.parameters())
    # torchvision's Inception-v3 without the auxiliary head, with a 1008-way classifier.
    assert parameters == 23_850_960
    assert network.fc.weight.shape == (1008, 2048)


def test_loader_restores_weights(random_inception_file):
    path, network = random_inception_file
    loaded = load_fid_inception(str(path))
    assert module_digest(loaded) == module_digest(network)
    assert not loaded.training


def test_loader_rejects_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="property.weights"):
        load_fid_inception(str(tmp_path / "missing.pth"))


def test_inception_score_end_to_end(random_inception_file):
    path, _ = random_inception_file
    config = PropertyConfig(backend="inception", weights=str(path), batch_size=2, splits=1)
    prop = build_property(config, dataset=None, progress=False)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8, generator=generator)
    probs = prop.backend.predict_proba(images)
    result = prop(images)
    assert probs.shape == (3, 1008)
    assert torch.allclose(probs.sum(dim=1), torch.ones(3), atol=1e-5)
    assert 1.0 <= result.value <= 3.0
    assert result.value == pytest.approx(math.exp(result.per_image.mean()))
    assert result.settings["backend"] == "inception"
    assert result.settings["weights"] == str(path)
    assert result.settings["logits"] == "unbiased"
    assert prop.backend.features(images[:1]).shape == (1, 2048)
