"""Projected gradient features `φ(x) = Pᵀ ∇θ L(x; θ*)` of a diffusion model.

Three losses are supported, each averaged over a set of timesteps:

- `diffusion` (TRAK): the training loss `mean((ε_θ(x_t, t) − ε)²)` at
  `x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε` (with the target replaced by `x_0` or the
  velocity for `sample` and `v_prediction` models).
- `square` (D-TRAK): `mean(ε_θ(x_t, t)²)`, the squared norm of the output
  divided by the number of pixels.
- Journey-TRAK's generated side (`trajectory_features`): the training loss
  at the noisy samples `x_t` that DDIM generation visited, with the target
  `ε_t = (x_t − √ᾱ_t x̃_0) / √(1 − ᾱ_t)` that the final image `x̃_0` implies.

NOTE: the losses call `unet(x_t, t)` without conditioning, so they cover
unconditional UNets (the pixel and latent families). A text-conditioned UNet
(the LoRA family) also needs its prompt embeddings, which are not passed yet.

Row `i` of a feature matrix always belongs to image `i`, because images are
processed by explicit index. The noise of example `i` at timestep `t` comes
from a generator seeded by `(seed, stream, example_ids[i], t)`. So neither
the batch size nor the processing order changes a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import BaselinesConfig
from .gradients import math_attention, parameter_count, per_sample_gradients, resolve_unet
from .journey import Trajectory
from .projection import RandomProjector
from .seeding import seeded_normal

__all__ = [
    "OBJECTIVES",
    "TRAIN_STREAM",
    "GENERATED_STREAM",
    "gradient_features",
    "trajectory_features",
    "resolve_timesteps",
    "example_noises",
]

logger = logging.getLogger(__name__)

OBJECTIVES = ("diffusion", "square")
TRAIN_STREAM = 0
GENERATED_STREAM = 1

# Returns the `batched` tensors [B, S, ...] of the examples at the given indices.
BatchInputs = Callable[[np.ndarray], list[torch.Tensor]]


def resolve_timesteps(spec: int | Sequence[int], num_train_timesteps: int) -> torch.Tensor:
    """Turn a timestep count or list into int64 [T] timesteps of the training schedule.

    A count `K` gives `K` distinct timesteps evenly spaced over
    `[0, num_train_timesteps - 1]`, both ends included.

    Raises:
        ValueError: on a count above `num_train_timesteps` or a timestep
            outside the schedule.
    """
    if isinstance(spec, int):
        if not 0 < spec <= num_train_timesteps:
            raise ValueError(f"timesteps={spec} must be in [1, {num_train_timesteps}] (num_train_timesteps).")
        return torch.from_numpy(np.unique(np.linspace(0, num_train_timesteps - 1, spec).round().astype(np.int64)))

    timesteps = torch.as_tensor(list(spec), dtype=torch.int64)
    if timesteps.numel() == 0 or timesteps.min() < 0 or timesteps.max() >= num_train_timesteps:
        raise ValueError(f"timesteps {list(spec)} must be a non-empty list within [0, {num_train_timesteps}).")
    return timesteps


def example_noises(
    example_ids: np.ndarray, timesteps: torch.Tensor, shape: tuple[int, ...], *, seed: int, stream: int
) -> torch.Tensor:
    """Draw noise [B, T, *shape] where entry `(b, s)` depends only on `(seed, stream, example_ids[b], timesteps[s])`."""
    return torch.stack(
        [
            torch.stack([seeded_normal(shape, seed, stream, int(example), int(t)) for t in timesteps])
            for example in example_ids
        ]
    )


def gradient_features(
    model: object,
    images: torch.Tensor,
    *,
    objective: str,
    config: BaselinesConfig,
    example_ids: np.ndarray | None = None,
    stream: int = TRAIN_STREAM,
    progress: bool = False,
) -> torch.Tensor:
    """Compute projected per-sample gradient features of training or generated images.

    Args:
        model: a `DiffusionModel` or a `(UNet2DModel, DDPMScheduler)` pair;
            the UNet's device is where the work runs.
        images: float32 [N, C, H, W] in [-1, 1].
        objective: `diffusion` (TRAK) or `square` (D-TRAK).
        config: timesteps, projection and batching settings.
        example_ids: int [N], stable identifiers that key each example's
            noise; defaults to `0..N-1`. Pass the ids with a reordered dataset
            to get the same rows, reordered.
        stream: noise stream, so generated images do not reuse the training
            images' noises (`TRAIN_STREAM`, `GENERATED_STREAM`).
        progress: show a progress bar over projection blocks.

    Returns:
        float32 [N, k] on the CPU, row `i` the feature of `images[i]`.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not one of {', '.join(OBJECTIVES)}.")
    unet, scheduler = resolve_unet(model)
    example_ids = _check_example_ids(example_ids, images.shape[0])
    timesteps = resolve_timesteps(config.timesteps, scheduler.config.num_train_timesteps)

    def batch_inputs(indices: np.ndarray) -> list[torch.Tensor]:
        clean = images[indices].float()
        noise = example_noises(example_ids[indices], timesteps, tuple(clean.shape[1:]), seed=config.seed, stream=stream)
        noisy = _add_noise(scheduler, clean, noise, timesteps)
        if objective == "square":
            return [noisy]
        return [noisy, _training_target(scheduler, clean, noise, timesteps)]

    loss_fn = _square_loss if objective == "square" else _denoising_loss
    return _projected_features(unet, images.shape[0], timesteps, batch_inputs, loss_fn, config, progress)


def trajectory_features(
    model: object, trajectory: Trajectory, *, config: BaselinesConfig, progress: bool = False
) -> torch.Tensor:
    """Compute Journey-TRAK features of generated images from their DDIM trajectory.

    The feature of image `m` is the projected gradient of the training loss
    averaged over the trajectory's steps, each at the visited `x_t` with the
    noise target implied by the final image.

    Returns:
        float32 [M, k] on the CPU.
    """
    unet, scheduler = resolve_unet(model)
    timesteps = trajectory.timesteps
    alphas = scheduler.alphas_cumprod[timesteps].float().view(1, -1, 1, 1, 1)
    targets_all = (trajectory.states - alphas.sqrt() * trajectory.images[:, None]) / (1 - alphas).sqrt()

    def batch_inputs(indices: np.ndarray) -> list[torch.Tensor]:
        states = trajectory.states[indices]
        epsilon = targets_all[indices]
        clean = trajectory.images[indices][:, None].expand_as(states)
        return [states, _target_for(scheduler, clean, epsilon, alphas)]

    num_images = trajectory.states.shape[0]
    return _projected_features(unet, num_images, timesteps, batch_inputs, _denoising_loss, config, progress)


def _projected_features(
    unet: torch.nn.Module,
    num_examples: int,
    timesteps: torch.Tensor,
    batch_inputs: BatchInputs,
    loss_fn: Callable[..., torch.Tensor],
    config: BaselinesConfig,
    progress: bool,
) -> torch.Tensor:
    device = next(unet.parameters()).device
    projector = RandomProjector(
        parameter_count(unet),
        config.projection_dim,
        seed=config.seed,
        chunk_size=config.chunk_size,
        kind=config.projection_type,
        device=device,
    )
    logger.info(
        "Projecting gradients of %d examples: %d parameters -> %d dimensions, %d timesteps.",
        num_examples, projector.num_params, projector.dim, len(timesteps),
    )

    features = torch.empty(num_examples, config.projection_dim)
    was_training = unet.training
    unet.eval()
    try:
        with math_attention(unet):
            blocks = range(0, num_examples, config.projection_batch_size)
            for start in tqdm(blocks, disable=not progress, desc="gradient features"):
                indices = np.arange(start, min(start + config.projection_batch_size, num_examples))
                gradients = _averaged_gradients(unet, indices, timesteps, batch_inputs, loss_fn, config, device)
                features[indices] = projector.project(gradients).cpu()
    finally:
        unet.train(was_training)
    return features


def _averaged_gradients(
    unet: torch.nn.Module,
    indices: np.ndarray,
    timesteps: torch.Tensor,
    batch_inputs: BatchInputs,
    loss_fn: Callable[..., torch.Tensor],
    config: BaselinesConfig,
    device: torch.device,
) -> torch.Tensor:
    """Return float32 [len(indices), P], each row the loss gradient averaged over `timesteps`."""
    gradients = torch.zeros(len(indices), parameter_count(unet), device=device)
    num_timesteps = len(timesteps)

    for start in range(0, len(indices), config.batch_size):
        rows = slice(start, start + config.batch_size)
        inputs = [tensor.to(device) for tensor in batch_inputs(indices[rows])]
        for first in range(0, num_timesteps, config.timestep_batch_size):
            group = slice(first, first + config.timestep_batch_size)
            group_timesteps = timesteps[group].to(device)
            batch = per_sample_gradients(unet, loss_fn, [tensor[:, group] for tensor in inputs], [group_timesteps])
            gradients[rows] += batch * (len(group_timesteps) / num_timesteps)
    return gradients


def _denoising_loss(call: Callable, noisy: torch.Tensor, target: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    return (call(noisy, timesteps).sample - target).pow(2).mean()


def _square_loss(call: Callable, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    return call(noisy, timesteps).sample.pow(2).mean()


def _add_noise(scheduler: object, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Return `x_t` [B, T, C, H, W] for clean [B, C, H, W] and noise [B, T, C, H, W]."""
    alphas = scheduler.alphas_cumprod[timesteps].float().view(1, -1, 1, 1, 1)
    return alphas.sqrt() * clean[:, None] + (1 - alphas).sqrt() * noise


def _training_target(scheduler: object, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    alphas = scheduler.alphas_cumprod[timesteps].float().view(1, -1, 1, 1, 1)
    return _target_for(scheduler, clean[:, None].expand_as(noise), noise, alphas)


def _target_for(scheduler: object, clean: torch.Tensor, noise: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """Return what the model is trained to predict, given its `prediction_type`."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return clean
    if prediction_type == "v_prediction":
        return alphas.sqrt() * noise - (1 - alphas).sqrt() * clean
    raise ValueError(f"prediction_type={prediction_type!r} is not one of epsilon, sample, v_prediction.")


def _check_example_ids(example_ids: np.ndarray | None, num_examples: int) -> np.ndarray:
    if example_ids is None:
        return np.arange(num_examples)
    example_ids = np.asarray(example_ids)
    if example_ids.shape != (num_examples,) or not np.issubdtype(example_ids.dtype, np.integer):
        raise ValueError(f"example_ids must be int [{num_examples}], got {example_ids.dtype} {list(example_ids.shape)}.")
    if (example_ids < 0).any() or len(np.unique(example_ids)) != num_examples:
        raise ValueError("example_ids must be distinct non-negative integers, one per image.")
    return example_ids
