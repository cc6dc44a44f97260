"""Tests for the BLIP-VQA vision backend with a tiny random model saved to a local folder."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import BlipConfig, BlipForQuestionAnswering, BlipVisionConfig, BlipVisionModel

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties import build_property
from diffusion_credit.properties.pretrained import load_blip_vision

VISION = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=32,
    patch_size=8,
    initializer_range=0.02,  # the BlipVisionConfig default of 1e-10 makes all embeddings equal
)
TEXT = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=1,
    num_attention_heads=4,
    vocab_size=99,
    max_position_embeddings=16,
    encoder_hidden_size=32,
)


@pytest.fixture(scope="module")
def tiny_blip_vqa(tmp_path_factory):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BlipForQuestionAnswering(BlipConfig(text_config=TEXT, vision_config=VISION, projection_dim=32))
    folder = tmp_path_factory.mktemp("tiny-blip-vqa")
    model.save_pretrained(folder)
    return folder, model


def test_loads_vision_encoder_of_vqa_checkpoint(tiny_blip_vqa):
    folder, model = tiny_blip_vqa
    vision, source = load_blip_vision(str(folder))
    assert isinstance(vision, BlipVisionModel)
    assert source == str(folder)
    assert torch.equal(vision.embeddings.patch_embedding.weight, model.vision_model.embeddings.patch_embedding.weight)


def test_loads_bare_vision_checkpoint(tmp_path):
    BlipVisionModel(BlipVisionConfig(**VISION)).save_pretrained(tmp_path)
    vision, _ = load_blip_vision(str(tmp_path))
    assert isinstance(vision, BlipVisionModel)


def test_missing_weights_rejected(tmp_path):
    with pytest.raises(OSError, match="Could not load BLIP weights"):
        load_blip_vision(str(tmp_path / "no-such-model"))


def test_cluster_entropy_with_blip_end_to_end(tiny_blip_vqa, tmp_path):
    folder, _ = tiny_blip_vqa
    config = PropertyConfig(name="cluster_entropy", backend="blip", weights=str(folder), num_clusters=3, batch_size=4)
    prop = build_property(config, dataset=None, cache_dir=tmp_path, progress=False)
    generator = torch.Generator().manual_seed(0)
    reference = torch.randint(0, 256, (9, 3, 16, 16), dtype=torch.uint8, generator=generator)
    prop.fit_reference(reference)
    result = prop(reference)
    assert prop.backend.features(reference[:2]).shape == (2, 32)
    assert 0.0 < result.value <= math.log(3) + 1e-12
    assert result.settings["backend"] == "blip"
    assert result.settings["network"] == "BlipVisionModel"
    assert prop(reference[:1].repeat(4, 1, 1, 1)).value == 0.0


def test_inception_score_rejects_blip():
    config = PropertyConfig(name="inception_score", backend="blip")
    with pytest.raises(ValueError, match="cannot compute the Inception Score"):
        build_property(config, dataset=None, progress=False)
