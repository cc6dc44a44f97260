"""Family `latent`: a UNet denoising cached latents of a frozen VQ autoencoder (not built yet)."""

from __future__ import annotations

from pathlib import Path

from diffusion_credit.config import ModelConfig
from diffusion_credit.models.base import DiffusionModel, ModelFamily, register_family


class LatentFamily(ModelFamily):
    """LDM: a frozen `VQModel` maps images to latents, a `UNet2DModel` denoises the latents.

    It will override `sample_shape`, `to_training_space` (encode, cached) and
    `to_pixels` (decode) and keep the VQModel in `DiffusionModel.extras`.
    """

    name = "latent"

    def create(self, config: ModelConfig, image_shape: tuple[int, int, int], *, seed: int) -> DiffusionModel:
        raise _not_implemented(self.name)

    def save(self, model: DiffusionModel, directory: Path) -> None:
        raise _not_implemented(self.name)

    def load(self, directory: Path, config: ModelConfig, image_shape: tuple[int, int, int]) -> DiffusionModel:
        raise _not_implemented(self.name)


def _not_implemented(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"Model family {name!r} is not implemented yet; use model.family: pixel."
    )


register_family(LatentFamily())
