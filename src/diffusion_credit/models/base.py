"""The model-family interface and the `DiffusionModel` bundle every family returns.

A family (`pixel`, `latent`, `lora`) knows how to build, save and load its
networks and how the diffusion loss and the noise prediction are computed on
them. Callers (training, pruning, sampling) only talk to `DiffusionModel`,
which forwards to its family, so a new family needs no change in the callers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from diffusion_credit.config import ModelConfig, SchedulerConfig

logger = logging.getLogger(__name__)

METADATA_FILE = "diffusion_model.json"

_FAMILIES: dict[str, "ModelFamily"] = {}


@dataclass
class DiffusionModel:
    """A denoising network with its training noise schedule.

    Attributes:
        unet: the noise-prediction network; for family `pixel` a diffusers
            `UNet2DModel` whose `unet(x_t, t).sample` is the predicted noise ε.
        noise_scheduler: the diffusers `DDPMScheduler` of training (forward
            process `q(x_t | x_0)`); DDIM sampling is built from its config.
        config: the `ModelConfig` the model was built from. After pruning the
            channel counts of `unet` are smaller than `config.block_out_channels`.
        image_shape: `(channels, height, width)` of the images in pixels.
        family: the registered family name, e.g. `"pixel"`.
        extras: family-specific modules that are not trained (e.g. a frozen
            autoencoder); empty for `pixel`.
    """

    unet: nn.Module
    noise_scheduler: Any
    config: ModelConfig
    image_shape: tuple[int, int, int]
    family: str = "pixel"
    extras: dict[str, nn.Module] = dataclasses.field(default_factory=dict)

    @property
    def family_impl(self) -> "ModelFamily":
        """The `ModelFamily` object that implements this model's hooks."""
        return get_family(self.family)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """Shape `(C, H, W)` of one sample in the space the UNet denoises."""
        return self.family_impl.sample_shape(self)

    @property
    def device(self) -> torch.device:
        """The device of the UNet's parameters."""
        return next(self.unet.parameters()).device

    def to(self, device: str | torch.device) -> "DiffusionModel":
        """Move the UNet and the extras to `device` in place and return `self`."""
        self.unet.to(device)
        for module in self.extras.values():
            module.to(device)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Count the UNet's parameters (all of them, or only those with `requires_grad`)."""
        return sum(p.numel() for p in self.unet.parameters() if p.requires_grad or not trainable_only)

    def predict_noise(self, x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Predict ε for noisy samples `x_t` [B, *sample_shape] at integer `timesteps` [B]."""
        return self.family_impl.predict_noise(self, x_t, timesteps)

    def training_loss(self, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Return the scalar ε-prediction MSE of a batch (see `ModelFamily.training_loss`)."""
        return self.family_impl.training_loss(self, clean, noise, timesteps)

    def to_pixels(self, samples: torch.Tensor) -> torch.Tensor:
        """Map denoised samples to images in [-1, 1], float32 [B, *image_shape]."""
        return self.family_impl.to_pixels(self, samples)

    def save(self, directory: str | Path) -> Path:
        """Write the model to `directory` (replaced if it exists) and return its path.

        The directory is assembled under a temporary name next to it and then
        renamed, so a killed save never leaves a half-written model behind.
        Weights are stored as safetensors; no Python object is pickled.
        """
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            self.family_impl.save(self, staging)
            metadata = {
                "family": self.family,
                "image_shape": list(self.image_shape),
                "model_config": dataclasses.asdict(self.config),
            }
            (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(staging, directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        logger.info("Saved %s model (%d parameters) to %s", self.family, self.num_parameters(), directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> "DiffusionModel":
        """Load a model written by `save`, pruned or not, onto `device`."""
        directory = Path(directory)
        metadata_path = directory / METADATA_FILE
        if not metadata_path.is_file():
            raise FileNotFoundError(
                f"{metadata_path} not found; {directory} is not a saved DiffusionModel. "
                "Pass a directory written by DiffusionModel.save."
            )
        metadata = json.loads(metadata_path.read_text())
        config = model_config_from_dict(metadata["model_config"])
        image_shape = tuple(int(size) for size in metadata["image_shape"])
        model = get_family(metadata["family"]).load(directory, config, image_shape)
        return model.to(device)


class ModelFamily(ABC):
    """How one kind of diffusion model is built, trained, sampled and stored."""

    name: str = ""

    @abstractmethod
    def create(self, config: ModelConfig, image_shape: tuple[int, int, int], *, seed: int) -> DiffusionModel:
        """Build a randomly initialised model; equal `seed` gives equal weights."""

    @abstractmethod
    def save(self, model: DiffusionModel, directory: Path) -> None:
        """Write the family's networks and scheduler into the existing `directory`."""

    @abstractmethod
    def load(self, directory: Path, config: ModelConfig, image_shape: tuple[int, int, int]) -> DiffusionModel:
        """Read what `save` wrote, restoring pruned layer shapes."""

    def sample_shape(self, model: DiffusionModel) -> tuple[int, int, int]:
        """Shape of one denoised sample; pixel families denoise the image itself."""
        return model.image_shape

    def predict_noise(self, model: DiffusionModel, x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Predict ε with the UNet; families with conditioning override this."""
        return model.unet(x_t, timesteps).sample

    def training_loss(
        self, model: DiffusionModel, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """Return the ε-prediction loss `mean ‖ε − ε_θ(x_t, t)‖²` of a batch.

        Args:
            model: the model being trained.
            clean: `x_0` in the family's sample space, float32 [B, *sample_shape].
            noise: ε ~ N(0, I), same shape as `clean`.
            timesteps: int64 [B] in `[0, num_train_timesteps)`.
        """
        noisy = model.noise_scheduler.add_noise(clean, noise, timesteps)
        predicted = self.predict_noise(model, noisy, timesteps)
        return nn.functional.mse_loss(predicted.float(), noise.float())

    def to_training_space(self, model: DiffusionModel, images: torch.Tensor) -> torch.Tensor:
        """Map images in [-1, 1] to the space the UNet denoises (identity for pixels)."""
        return images

    def to_pixels(self, model: DiffusionModel, samples: torch.Tensor) -> torch.Tensor:
        """Map denoised samples back to images in [-1, 1] (identity for pixels)."""
        return samples


def register_family(family: ModelFamily) -> ModelFamily:
    """Add `family` to the registry under `family.name` and return it."""
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    """Return the registered family called `name`."""
    if name not in _FAMILIES:
        raise ValueError(f"Unknown model family {name!r}; registered families are {sorted(_FAMILIES)}.")
    return _FAMILIES[name]


def create_model(config: ModelConfig, image_shape: tuple[int, int, int], *, seed: int) -> DiffusionModel:
    """Build a randomly initialised model of `config.family` for images of `image_shape`.

    Args:
        config: the validated model section of the study config.
        image_shape: `(channels, height, width)` of the training images.
        seed: seed of the weight initialisation; the global RNG is left untouched.
    """
    config.validate()
    if len(image_shape) != 3 or min(image_shape) <= 0:
        raise ValueError(f"image_shape must be (channels, height, width) with positive sizes, got {image_shape!r}.")
    return get_family(config.family).create(config, tuple(int(size) for size in image_shape), seed=seed)


def model_config_from_dict(raw: dict[str, Any]) -> ModelConfig:
    """Rebuild a `ModelConfig` from `dataclasses.asdict` output, ignoring unknown keys."""
    raw = dict(raw)
    scheduler_fields = {field.name for field in dataclasses.fields(SchedulerConfig)}
    scheduler = SchedulerConfig(**{k: v for k, v in raw.pop("scheduler", {}).items() if k in scheduler_fields})
    model_fields = {field.name for field in dataclasses.fields(ModelConfig)} - {"scheduler"}
    return ModelConfig(scheduler=scheduler, **{k: v for k, v in raw.items() if k in model_fields})
