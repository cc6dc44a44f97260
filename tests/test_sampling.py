"""Generation from fixed initial noises."""

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_credit.config import ModelConfig
from diffusion_credit.models import create_model
from diffusion_credit.sampling import derive_seed, generate, initial_noises, save_image_grid, to_uint8

SHAPE = (3, 8, 8)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4)
    return create_model(config, SHAPE, seed=0)


def test_noise_depends_only_on_seed_and_index():
    together = initial_noises(5, [0, 1, 2, 3], SHAPE)
    assert together.shape == (4, *SHAPE)
    assert together.dtype == torch.float32
    assert torch.equal(initial_noises(5, [2], SHAPE)[0], together[2])
    assert torch.equal(initial_noises(5, np.array([3, 0]), SHAPE), together[[3, 0]])
    assert not torch.equal(initial_noises(6, [0], SHAPE)[0], together[0])
    assert not torch.equal(together[0], together[1])


def test_noise_is_standard_normal():
    noise = initial_noises(0, range(64), SHAPE)
    assert abs(noise.mean().item()) < 0.05
    assert abs(noise.std().item() - 1) < 0.05


def test_noise_ignores_global_rng():
    torch.manual_seed(1)
    first = initial_noises(9, [4], SHAPE)
    torch.manual_seed(2)
    assert torch.equal(initial_noises(9, [4], SHAPE), first)


def test_noise_rejects_negative_index():
    with pytest.raises(ValueError, match="non-negative"):
        initial_noises(0, [-1], SHAPE)


def test_derive_seed_is_stable():
    assert derive_seed(1, "noise", 3) == derive_seed(1, "noise", 3)
    assert derive_seed(1, "noise", 3) != derive_seed(1, "noise", 4)
    assert 0 <= derive_seed(123, "x") < 2**63


def test_samples_independent_of_batch_size(model):
    outputs = [generate(model, 8, num_inference_steps=4, batch_size=size, seed=3, progress=False) for size in (1, 3, 8)]
    assert outputs[0].shape == (8, *SHAPE)
    assert outputs[0].dtype == torch.uint8
    assert torch.equal(outputs[0], outputs[1])
    assert torch.equal(outputs[0], outputs[2])


def test_slice_matches_full_set(model):
    full = generate(model, 5, num_inference_steps=3, batch_size=5, seed=1, progress=False)
    tail = generate(model, 2, num_inference_steps=3, batch_size=2, seed=1, progress=False, first_index=3)
    assert torch.equal(tail, full[3:])


def test_seed_changes_samples(model):
    first = generate(model, 2, num_inference_steps=3, batch_size=2, seed=1, progress=False)
    second = generate(model, 2, num_inference_steps=3, batch_size=2, seed=2, progress=False)
    assert not torch.equal(first, second)


def test_generate_rejects_bad_counts(model):
    with pytest.raises(ValueError, match="positive"):
        generate(model, 0, num_inference_steps=3, batch_size=2, seed=1)
    with pytest.raises(ValueError, match="num_inference_steps"):
        generate(model, 2, num_inference_steps=0, batch_size=2, seed=1)


def test_to_uint8_maps_range():
    pixels = to_uint8(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert pixels.tolist() == [0, 0, 128, 255, 255]


def test_image_grid_roundtrip(tmp_path):
    images = torch.randint(0, 256, (5, 3, 4, 6), dtype=torch.uint8)
    path = save_image_grid(images, tmp_path / "grid.png", nrow=2)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (12, 12, 3)
    assert np.array_equal(grid[4:8, 6:12], images[3].permute(1, 2, 0).numpy())
    assert not grid[8:12, 6:12].any()


def test_image_grid_rejects_float(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        save_image_grid(torch.zeros(1, 3, 4, 4), tmp_path / "grid.png")
