"""Diffusion model families behind one interface (`pixel`; `latent` and `lora` planned)."""

from diffusion_credit.models import latent, lora, pixel
from diffusion_credit.models.base import (
    DiffusionModel,
    ModelFamily,
    create_model,
    get_family,
    register_family,
)
from diffusion_credit.models.pixel import build_ddim_scheduler, build_noise_scheduler, build_unet

__all__ = [
    "DiffusionModel",
    "ModelFamily",
    "build_ddim_scheduler",
    "build_noise_scheduler",
    "build_unet",
    "create_model",
    "get_family",
    "latent",
    "lora",
    "pixel",
    "register_family",
]
