"""Tests for the LAION aesthetic heads and the CLIP aesthetic score property."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig, CLIPVisionModelWithProjection

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties import AestheticScore, aesthetic_scores, build_property, load_aesthetic_head
from diffusion_credit.properties.backends import resize_rgb
from diffusion_credit.properties.pretrained import CLIP_MEAN, CLIP_STD, ClipBackend, load_clip_vision

from conftest import AESTHETIC

needs_heads = pytest.mark.skipif(
    not AESTHETIC.is_dir(), reason=f"LAION aesthetic heads not found at {AESTHETIC} (shared weights folder absent)"
)

HEADS = {"vit_l_14": 768, "vit_b_32": 512, "vit_b_16": 512}


def tiny_vision_config(projection_dim: int = 768) -> CLIPVisionConfig:
    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=projection_dim,
    )


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPVisionModelWithProjection(tiny_vision_config()).save_pretrained(folder)
    return folder


def random_images(count: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)


@needs_heads
@pytest.mark.parametrize("name", sorted(HEADS))
def test_real_head_loads_as_linear(name):
    head = load_aesthetic_head(AESTHETIC / f"sa_0_4_{name}_linear.pth")
    assert isinstance(head, torch.nn.Linear)
    assert (head.in_features, head.out_features) == (HEADS[name], 1)


@needs_heads
@pytest.mark.parametrize("name", ["vit_l_14", "vit_b_32"])
def test_real_head_orders_reference_ratings(name):
    head = load_aesthetic_head(AESTHETIC / f"sa_0_4_{name}_linear.pth")
    embeddings = [np.load(AESTHETIC / f"{name}_embeddings" / f"rating{rating}.npy") for rating in range(10)]
    scores = aesthetic_scores(torch.from_numpy(np.concatenate(embeddings)), head)
    assert scores.shape == (10,)
    assert np.all(np.diff(scores) > 0), f"scores not increasing with rating: {np.round(scores, 2)}"


@needs_heads
def test_scores_ignore_embedding_norm():
    head = load_aesthetic_head(AESTHETIC / "sa_0_4_vit_l_14_linear.pth")
    embedding = torch.from_numpy(np.load(AESTHETIC / "vit_l_14_embeddings" / "rating5.npy"))
    assert aesthetic_scores(embedding * 7.0, head) == pytest.approx(aesthetic_scores(embedding, head), rel=1e-5)


def test_head_dimension_mismatch_rejected():
    head = torch.nn.Linear(768, 1)
    with pytest.raises(ValueError, match="embeddings \\[N, 768\\]"):
        aesthetic_scores(torch.ones(2, 512), head)


def test_head_with_wrong_keys_rejected(tmp_path):
    path = tmp_path / "not-a-head.pth"
    torch.save({"layers.0.weight": torch.zeros(1024, 768)}, path)
    with pytest.raises(ValueError, match="not a linear aesthetic head"):
        load_aesthetic_head(path)


def test_missing_head_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="property.head"):
        load_aesthetic_head(tmp_path / "missing.pth")


def test_clip_preprocessing_matches_processor():
    from transformers import CLIPImageProcessor

    images = random_images(2)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    expected = processor(images=[image.permute(1, 2, 0).numpy() for image in images], return_tensors="pt").pixel_values
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    ours = (resize_rgb(images, 32, mode="bicubic") - mean) / std
    # PIL's and PyTorch's bicubic kernels differ slightly, on noise images by about 0.06 on average.
    assert (ours - expected).abs().mean() < 0.1


@needs_heads
def test_aesthetic_property_end_to_end(tiny_clip_dir):
    head = AESTHETIC / "sa_0_4_vit_l_14_linear.pth"
    config = PropertyConfig(name="aesthetic_score", backend="clip", weights=str(tiny_clip_dir), head=str(head), batch_size=3)
    prop = build_property(config, dataset=None, progress=False)
    images = random_images(7)
    result = prop(images)
    assert result.per_image.shape == (7,)
    assert result.value == pytest.approx(np.quantile(result.per_image, 0.9))
    assert result.settings["quantile"] == 0.9
    assert result.settings["weights"] == str(tiny_clip_dir)
    assert result.settings["network"] == "CLIPVisionModelWithProjection"
    assert len(result.settings["digest"]) == 16


@needs_heads
def test_aesthetic_property_matches_manual_pipeline(tiny_clip_dir):
    model, _ = load_clip_vision(str(tiny_clip_dir))
    head = load_aesthetic_head(AESTHETIC / "sa_0_4_vit_l_14_linear.pth")
    prop = AestheticScore(ClipBackend(model, weights="tiny", batch_size=2), head, head_source="real", quantile=0.5)
    images = random_images(5, size=32)
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        embeds = model(pixel_values=(images.float() / 255 - mean) / std).image_embeds
        expected = head(embeds / embeds.norm(dim=1, keepdim=True)).squeeze(1).double().numpy()
    result = prop(images)
    np.testing.assert_allclose(result.per_image, expected, rtol=1e-5, atol=1e-6)
    assert result.value == pytest.approx(np.median(expected))


def test_clip_loads_from_full_clip_checkpoint(tmp_path):
    text = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4, vocab_size=99)
    full = CLIPModel(CLIPConfig(text_config=text, vision_config=tiny_vision_config().to_dict(), projection_dim=768))
    full.save_pretrained(tmp_path)
    model, source = load_clip_vision(str(tmp_path))
    assert source == str(tmp_path)
    assert torch.equal(model.visual_projection.weight, full.visual_projection.weight)


def test_clip_missing_weights_rejected(tmp_path):
    with pytest.raises(OSError, match="Could not load CLIP weights"):
        load_clip_vision(str(tmp_path / "no-such-model"))


def test_aesthetic_needs_clip_backend():
    with pytest.raises(ValueError, match="set property.backend to 'clip'"):
        build_property(PropertyConfig(name="aesthetic_score", backend="study"), dataset=None, progress=False)


@needs_heads
def test_head_and_clip_dimension_mismatch(tmp_path):
    CLIPVisionModelWithProjection(tiny_vision_config(projection_dim=16)).save_pretrained(tmp_path)
    head = AESTHETIC / "sa_0_4_vit_b_32_linear.pth"
    config = PropertyConfig(name="aesthetic_score", backend="clip", weights=str(tmp_path), head=str(head))
    with pytest.raises(ValueError, match="takes 512-d embeddings but the CLIP model returns 16-d"):
        build_property(config, dataset=None, progress=False)
