"""compute_baselines and the per-method functions on a tiny diffusers UNet."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from diffusion_credit.baselines import (
    METHODS,
    BaselinesConfig,
    SingularKernelError,
    compute_baselines,
    ddim_trajectory,
    initial_noises,
    journey_trak,
    trak,
)

# D-TRAK shares this code path with its own loss; its shuffle behaviour is tested on the features.
GRADIENT_METHODS = ["trak", "relative_influence", "renormalized_influence", "gradient_similarity"]


def _config(**overrides):
    settings = dict(timesteps=2, projection_dim=8, batch_size=6, projection_batch_size=12, num_generated=3, journey_steps=3)
    settings.update(overrides)
    return BaselinesConfig(**settings)


def test_all_methods_return_finite_contributor_scores(tiny_model, train_data, generated_images):
    images, labels = train_data
    results = compute_baselines(
        list(METHODS), model=tiny_model, train_images=images, train_labels=labels,
        generated_images=generated_images, config=_config(), features=lambda batch: batch.mean(dim=(2, 3)),
    )

    assert set(results.scores) == set(METHODS)
    for method, scores in results.scores.items():
        assert scores.shape == (3,), method
        assert np.isfinite(scores).all(), method
    assert results.ridge_lambdas["trak"] == 0.5
    assert not np.allclose(results.scores["trak"], results.scores["d_trak"])


def test_contributor_scores_unchanged_by_shuffling(tiny_model, train_data, generated_images):
    images, labels = train_data
    methods = GRADIENT_METHODS + ["pixel_similarity_max"]
    permutation = np.random.default_rng(3).permutation(len(labels))

    ordered = compute_baselines(
        methods, model=tiny_model, train_images=images, train_labels=labels,
        generated_images=generated_images, config=_config(),
    )
    shuffled = compute_baselines(
        methods, model=tiny_model, train_images=images[permutation], train_labels=labels[permutation],
        generated_images=generated_images, config=_config(), example_ids=permutation,
    )

    for method in methods:
        np.testing.assert_allclose(shuffled.scores[method], ordered.scores[method], rtol=1e-4, atol=1e-6, err_msg=method)


def test_diffusion_model_wrapper_accepted(tiny_model, train_data, generated_images):
    unet, scheduler = tiny_model
    wrapped = SimpleNamespace(unet=unet, noise_scheduler=scheduler)
    images, labels = train_data

    np.testing.assert_allclose(
        trak(wrapped, images, labels, generated_images, config=_config()),
        trak(tiny_model, images, labels, generated_images, config=_config()),
        rtol=1e-6,
    )


def test_projection_above_n_with_zero_lambda_fails_early(tiny_model, train_data, generated_images):
    images, labels = train_data
    with pytest.raises(SingularKernelError) as error:
        trak(tiny_model, images, labels, generated_images, config=_config(projection_dim=64, ridge_lambda=0.0))
    assert "k=64" in str(error.value)
    assert "N=12" in str(error.value)
    assert "λ=0" in str(error.value)


def test_holdout_selects_lambda_from_grid(tiny_model, train_data, generated_images):
    images, labels = train_data
    coalitions = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)
    values = np.array([0.3, 0.5, 0.1, 0.0, 0.2])

    results = compute_baselines(
        ["trak"], model=tiny_model, train_images=images, train_labels=labels, generated_images=generated_images,
        config=_config(lambda_grid=[0.01, 1.0, 100.0]), holdout=(coalitions, values),
    )
    assert results.ridge_lambdas["trak"] in (0.01, 1.0, 100.0)


def test_journey_trak_from_noises(tiny_model, train_data):
    images, labels = train_data
    noises = initial_noises(3, (3, 8, 8), seed=7)

    scores = journey_trak(tiny_model, images, labels, noises=noises, config=_config())

    assert scores.shape == (3,)
    assert np.isfinite(scores).all()


def test_ddim_trajectory_records_states(tiny_model):
    unet, scheduler = tiny_model
    noises = initial_noises(2, (3, 8, 8), seed=7)

    trajectory = ddim_trajectory(unet, scheduler, noises, num_inference_steps=4, batch_size=1)

    assert trajectory.states.shape == (2, 4, 3, 8, 8)
    torch.testing.assert_close(trajectory.states[:, 0], noises)
    assert trajectory.timesteps.tolist() == sorted(trajectory.timesteps.tolist(), reverse=True)
    assert trajectory.images.abs().max() <= 1.0
    torch.testing.assert_close(initial_noises(1, (3, 8, 8), seed=7)[0], noises[0])


def test_compute_baselines_rejects_bad_requests(tiny_model, train_data, generated_images):
    images, labels = train_data
    common = dict(train_images=images, train_labels=labels, generated_images=generated_images, config=_config())
    with pytest.raises(ValueError, match="Unknown baseline 'tracin'"):
        compute_baselines(["tracin"], model=tiny_model, **common)
    with pytest.raises(ValueError, match="features callable"):
        compute_baselines(["embedding_similarity"], model=tiny_model, **common)
    with pytest.raises(ValueError, match="needs the diffusion model"):
        compute_baselines(["d_trak"], model=None, **common)
    with pytest.raises(ValueError, match="projection_type"):
        compute_baselines(["trak"], model=tiny_model, **{**common, "config": _config(projection_type="sparse")})


def test_project_diffusion_model_accepted(train_data, generated_images):
    models = pytest.importorskip("diffusion_credit.models")
    from diffusion_credit.config import ModelConfig

    model = models.create_model(ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True]), (3, 8, 8), seed=0)
    images, labels = train_data

    scores = trak(model, images, labels, generated_images, config=_config())

    assert scores.shape == (3,)
    assert np.isfinite(scores).all()
