"""Family `lora`: a text-to-image `UNet2DConditionModel` fine-tuned through peft LoRA (not built yet)."""

from __future__ import annotations

from pathlib import Path

from diffusion_credit.config import ModelConfig
from diffusion_credit.models.base import DiffusionModel, ModelFamily, register_family
from diffusion_credit.models.latent import _not_implemented


class LoraFamily(ModelFamily):
    """Stable-Diffusion-style model whose only trainable weights are LoRA adapters.

    It will override `predict_noise` (text conditioning) and the latent
    hooks, and pruning will act on the LoRA ranks instead of UNet channels.
    """

    name = "lora"

    def create(self, config: ModelConfig, image_shape: tuple[int, int, int], *, seed: int) -> DiffusionModel:
        raise _not_implemented(self.name)

    def save(self, model: DiffusionModel, directory: Path) -> None:
        raise _not_implemented(self.name)

    def load(self, directory: Path, config: ModelConfig, image_shape: tuple[int, int, int]) -> DiffusionModel:
        raise _not_implemented(self.name)


register_family(LoraFamily())
