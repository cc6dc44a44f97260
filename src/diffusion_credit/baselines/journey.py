"""DDIM generation that records its trajectory, for Journey-TRAK.

Journey-TRAK attributes the intermediate noisy samples `x_t` that generation
visits, not only the final image. `ddim_trajectory` runs deterministic DDIM
(η = 0) from given initial noises and keeps `x_t` before every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler
from tqdm.auto import tqdm

from .seeding import seeded_normal

__all__ = ["Trajectory", "ddim_trajectory", "initial_noises"]

NOISE_STREAM = 2


@dataclass
class Trajectory:
    """The noisy samples of a DDIM generation run.

    Attributes:
        timesteps: int64 [S], the training-schedule timestep of each DDIM step,
            from noisiest to cleanest.
        states: float32 [M, S, C, H, W], `x_t` of image `m` before step `s`.
        images: float32 [M, C, H, W] in [-1, 1], the generated images.
    """

    timesteps: torch.Tensor
    states: torch.Tensor
    images: torch.Tensor


def initial_noises(num_images: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """Draw the initial noises of generation; image `i`'s noise depends only on `(seed, i)`.

    Returns:
        float32 [num_images, C, H, W] on the CPU.
    """
    if num_images <= 0:
        raise ValueError(f"num_images must be positive, got {num_images}.")
    return torch.stack([seeded_normal(tuple(shape), seed, NOISE_STREAM, index) for index in range(num_images)])


@torch.no_grad()
def ddim_trajectory(
    unet: torch.nn.Module,
    scheduler: object,
    noises: torch.Tensor,
    *,
    num_inference_steps: int,
    batch_size: int = 64,
    progress: bool = False,
) -> Trajectory:
    """Generate images with DDIM (η = 0) from `noises` and record every `x_t`.

    Args:
        unet: the noise-prediction network, on the device to run on.
        scheduler: the training scheduler; its config builds the DDIM one.
        noises: float [M, C, H, W], the initial noises `x_T`.
        num_inference_steps: DDIM steps `S`.
        batch_size: images denoised together.
        progress: show a progress bar over batches.

    Returns:
        The trajectory, on the CPU.
    """
    device = next(unet.parameters()).device
    ddim = DDIMScheduler.from_config(scheduler.config)
    ddim.set_timesteps(num_inference_steps)
    timesteps = ddim.timesteps.clone()

    states, images = [], []
    for start in tqdm(range(0, noises.shape[0], batch_size), disable=not progress, desc="DDIM trajectory"):
        sample = noises[start : start + batch_size].to(device, torch.float32)
        visited = []
        for timestep in timesteps:
            visited.append(sample.cpu())
            noise_prediction = unet(sample, timestep.to(device)).sample
            sample = ddim.step(noise_prediction, timestep, sample, eta=0.0).prev_sample
        states.append(torch.stack(visited, dim=1))
        images.append(sample.clamp(-1.0, 1.0).cpu())
    return Trajectory(timesteps=timesteps.long(), states=torch.cat(states), images=torch.cat(images))
