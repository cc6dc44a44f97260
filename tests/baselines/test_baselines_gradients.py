"""Per-sample gradients of a diffusers UNet and the gradient features built on them."""

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from diffusion_credit.baselines import BaselinesConfig, gradient_features
from diffusion_credit.baselines.features import _denoising_loss, resolve_timesteps
from diffusion_credit.baselines.gradients import math_attention, per_sample_gradients, resolve_unet


def _loop_gradients(unet, noisy, targets, timesteps):
    rows = []
    for example in range(noisy.shape[0]):
        unet.zero_grad()
        prediction = unet(noisy[example], timesteps).sample
        (prediction - targets[example]).pow(2).mean().backward()
        rows.append(torch.cat([p.grad.flatten() for p in unet.parameters()]))
    unet.zero_grad()
    return torch.stack(rows)


def test_per_sample_gradients_match_loop(tiny_model):
    unet, _ = tiny_model
    generator = torch.Generator().manual_seed(0)
    noisy = torch.randn(3, 2, 3, 8, 8, generator=generator)
    targets = torch.randn(3, 2, 3, 8, 8, generator=generator)
    timesteps = torch.tensor([5, 70])

    with math_attention(unet):
        batched = per_sample_gradients(unet, _denoising_loss, [noisy, targets], [timesteps])
    # The loop runs with diffusers' default SDPA processor.
    looped = _loop_gradients(unet, noisy, targets, timesteps)

    assert batched.shape == looped.shape
    torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-6)


def test_math_attention_restores_processors(tiny_model):
    unet, _ = tiny_model
    layers = [layer for layer in unet.modules() if isinstance(layer, Attention)]
    assert layers

    with pytest.raises(RuntimeError):
        with math_attention(unet):
            assert all(type(layer.get_processor()).__name__ == "AttnProcessor" for layer in layers)
            raise RuntimeError("leave the block early")
    assert all(isinstance(layer.get_processor(), AttnProcessor2_0) for layer in layers)


def test_features_independent_of_batching(tiny_model, train_data):
    images = train_data[0][:5]
    whole = BaselinesConfig(timesteps=[3, 40, 90], projection_dim=32, batch_size=5, projection_batch_size=5, timestep_batch_size=3)
    split = BaselinesConfig(timesteps=[3, 40, 90], projection_dim=32, batch_size=2, projection_batch_size=3, timestep_batch_size=2)

    first = gradient_features(tiny_model, images, objective="diffusion", config=whole)
    second = gradient_features(tiny_model, images, objective="diffusion", config=split)

    assert first.shape == (5, 32)
    torch.testing.assert_close(first, second, rtol=1e-4, atol=1e-5)


def test_features_follow_examples_when_shuffled(tiny_model, train_data):
    images = train_data[0][:6]
    config = BaselinesConfig(timesteps=2, projection_dim=16, batch_size=4, projection_batch_size=4)
    permutation = np.random.default_rng(0).permutation(6)

    ordered = gradient_features(tiny_model, images, objective="square", config=config)
    shuffled = gradient_features(tiny_model, images[permutation], objective="square", config=config, example_ids=permutation)

    torch.testing.assert_close(shuffled, ordered[permutation], rtol=1e-4, atol=1e-5)


def test_features_depend_on_seed_and_objective(tiny_model, train_data):
    images = train_data[0][:2]
    base = gradient_features(tiny_model, images, objective="diffusion", config=BaselinesConfig(timesteps=1, projection_dim=8))
    reseeded = gradient_features(tiny_model, images, objective="diffusion", config=BaselinesConfig(timesteps=1, projection_dim=8, seed=1))
    square = gradient_features(tiny_model, images, objective="square", config=BaselinesConfig(timesteps=1, projection_dim=8))

    assert torch.isfinite(base).all()
    assert not torch.allclose(base, reseeded)
    assert not torch.allclose(base, square)


def test_resolve_timesteps_spacing_and_bounds():
    assert resolve_timesteps(3, 100).tolist() == [0, 50, 99]
    assert resolve_timesteps([7, 8], 100).tolist() == [7, 8]
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        resolve_timesteps(101, 100)
    with pytest.raises(ValueError, match="within"):
        resolve_timesteps([100], 100)


def test_gradient_inputs_rejected(tiny_model, train_data):
    with pytest.raises(ValueError, match="objective"):
        gradient_features(tiny_model, train_data[0], objective="l1", config=BaselinesConfig())
    with pytest.raises(ValueError, match="distinct"):
        gradient_features(
            tiny_model, train_data[0][:2], objective="square", config=BaselinesConfig(), example_ids=np.array([1, 1])
        )
    with pytest.raises(TypeError, match="DiffusionModel"):
        resolve_unet(object())
