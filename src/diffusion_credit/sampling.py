"""Generation from fixed initial noises with DDIM (η = 0).

The initial noise of image `i` is drawn from a CPU `torch.Generator` seeded
by `(seed, i)` alone, so every model of a study starts image `i` from the
same noise whatever the batch size or device, and with η = 0 the sampler adds
no further randomness.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from diffusion_credit.models import DiffusionModel, build_ddim_scheduler

logger = logging.getLogger(__name__)


def derive_seed(seed: int, *keys: int | str) -> int:
    """Return a 63-bit seed that depends only on `seed` and `keys` (a stable hash, not Python's `hash`)."""
    payload = ":".join(str(part) for part in (seed, *keys)).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") >> 1


def initial_noises(seed: int, indices: Sequence[int] | np.ndarray | torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Draw the initial noise `x_T` of each image index.

    Args:
        seed: the study's sampling seed.
        indices: image indices `i`; the noise of `i` depends only on `(seed, i)`.
        shape: shape `(C, H, W)` of one sample.

    Returns:
        float32 [len(indices), *shape] standard normal noise on the CPU.
    """
    noises = []
    for index in [int(i) for i in indices]:
        if index < 0:
            raise ValueError(f"Image indices must be non-negative, got {index}.")
        generator = torch.Generator().manual_seed(derive_seed(seed, "initial-noise", index))
        noises.append(torch.randn(tuple(shape), generator=generator))
    if not noises:
        return torch.empty((0, *shape))
    return torch.stack(noises)


@torch.no_grad()
def generate(
    model: DiffusionModel,
    num_images: int,
    *,
    num_inference_steps: int,
    batch_size: int,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    first_index: int = 0,
) -> torch.Tensor:
    """Generate images with deterministic DDIM (η = 0) from the fixed initial noises.

    Args:
        model: the model to sample; moved to `device` and put in eval mode.
        num_images: how many images, with indices `first_index ..`.
        num_inference_steps: DDIM steps.
        batch_size: images denoised at once; does not change the result
            beyond floating-point reordering of the network's kernels.
        seed: the sampling seed that fixes the initial noises.
        device: where the network runs.
        progress: show a tqdm bar over batches.
        first_index: index of the first image, to generate a slice of a larger set.

    Returns:
        uint8 [num_images, C, H, W] images on the CPU.
    """
    if num_images <= 0 or batch_size <= 0:
        raise ValueError(f"num_images={num_images} and batch_size={batch_size} must both be positive.")
    scheduler = build_ddim_scheduler(model.noise_scheduler, num_inference_steps)
    model.to(device)
    was_training = model.unet.training
    model.unet.eval()

    batches = []
    starts = range(first_index, first_index + num_images, batch_size)
    for start in tqdm(starts, desc="sampling", unit="batch", disable=not progress, total=math.ceil(num_images / batch_size)):
        indices = range(start, min(start + batch_size, first_index + num_images))
        sample = initial_noises(seed, indices, model.sample_shape).to(device)
        sample = _denoise(model, scheduler, sample)
        batches.append(to_uint8(model.to_pixels(sample)).cpu())

    model.unet.train(was_training)
    return torch.cat(batches)


def _denoise(model: DiffusionModel, scheduler, sample: torch.Tensor) -> torch.Tensor:
    for timestep in scheduler.timesteps:
        timesteps = torch.full((sample.shape[0],), int(timestep), dtype=torch.long, device=sample.device)
        noise_prediction = model.predict_noise(sample, timesteps)
        sample = scheduler.step(noise_prediction, timestep, sample, eta=0.0).prev_sample
    return sample


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map float images in [-1, 1] (clamped) to uint8 in [0, 255]."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """Write uint8 images [N, C, H, W] (C = 1 or 3) as one PNG grid with `nrow` images per row."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"save_image_grid expects uint8 [N, C, H, W] with C in (1, 3), got {images.dtype} {tuple(images.shape)}."
        )
    if nrow <= 0:
        raise ValueError(f"nrow must be positive, got {nrow}.")
    count, channels, height, width = images.shape
    rows = math.ceil(count / nrow)
    grid = torch.zeros((channels, rows * height, nrow * width), dtype=torch.uint8)
    for index in range(count):
        row, column = divmod(index, nrow)
        grid[:, row * height : (row + 1) * height, column * width : (column + 1) * width] = images[index]
    array = grid.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if channels == 1 else array).save(path, format="PNG")
    return path
