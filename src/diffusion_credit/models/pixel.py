"""Family `pixel`: a DDPM that denoises images directly with a diffusers `UNet2DModel`."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from safetensors.torch import load_file

from diffusion_credit.config import ModelConfig, SchedulerConfig
from diffusion_credit.models.base import DiffusionModel, ModelFamily, register_family
from diffusion_credit.models.shapes import resize_to_state_dict

logger = logging.getLogger(__name__)

UNET_FOLDER = "unet"
SCHEDULER_FOLDER = "scheduler"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def build_unet(config: ModelConfig, image_shape: tuple[int, int, int]) -> UNet2DModel:
    """Build an untrained `UNet2DModel` for `image_shape` from the model config.

    Level `i` of `config.block_out_channels` gets `AttnDownBlock2D` and
    `AttnUpBlock2D` when `config.attention_levels[i]` is true, else plain
    `DownBlock2D`/`UpBlock2D`. The weights come from the global torch RNG;
    `PixelFamily.create` seeds it inside a forked RNG state.
    """
    channels, height, width = image_shape
    levels = len(config.block_out_channels)
    if height != width:
        raise ValueError(f"The pixel family needs square images, got height={height}, width={width}.")
    if height % 2 ** (levels - 1):
        raise ValueError(
            f"Image size {height} is not divisible by 2**{levels - 1}, which {levels} resolution levels need; "
            "use fewer levels in model.block_out_channels or a larger data.resolution."
        )
    down_types = ["AttnDownBlock2D" if attention else "DownBlock2D" for attention in config.attention_levels]
    up_types = ["AttnUpBlock2D" if attention else "UpBlock2D" for attention in reversed(config.attention_levels)]
    return UNet2DModel(
        sample_size=height,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        down_block_types=tuple(down_types),
        up_block_types=tuple(up_types),
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        dropout=config.dropout,
    )


def build_noise_scheduler(config: SchedulerConfig) -> DDPMScheduler:
    """Build the training `DDPMScheduler` (ε-prediction, samples clipped to [-1, 1])."""
    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        beta_schedule=config.beta_schedule,
        prediction_type="epsilon",
    )


def build_ddim_scheduler(noise_scheduler: DDPMScheduler, num_inference_steps: int) -> DDIMScheduler:
    """Build a DDIM scheduler on the same β schedule, set to `num_inference_steps` steps."""
    if num_inference_steps <= 0 or num_inference_steps > noise_scheduler.config.num_train_timesteps:
        raise ValueError(
            f"num_inference_steps={num_inference_steps} must be in [1, "
            f"num_train_timesteps={noise_scheduler.config.num_train_timesteps}]."
        )
    scheduler = DDIMScheduler.from_config(noise_scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    return scheduler


class PixelFamily(ModelFamily):
    """DDPM on pixels: `UNet2DModel` + `DDPMScheduler`, sampled with DDIM."""

    name = "pixel"

    def create(self, config: ModelConfig, image_shape: tuple[int, int, int], *, seed: int) -> DiffusionModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = build_unet(config, image_shape)
        model = DiffusionModel(unet, build_noise_scheduler(config.scheduler), config, image_shape, self.name)
        logger.info("Created pixel UNet with %d parameters for images %s", model.num_parameters(), image_shape)
        return model

    def save(self, model: DiffusionModel, directory: Path) -> None:
        model.unet.save_pretrained(directory / UNET_FOLDER, safe_serialization=True)
        model.noise_scheduler.save_pretrained(directory / SCHEDULER_FOLDER)

    def load(self, directory: Path, config: ModelConfig, image_shape: tuple[int, int, int]) -> DiffusionModel:
        weights_path = directory / UNET_FOLDER / WEIGHTS_FILE
        if not weights_path.is_file():
            raise FileNotFoundError(f"UNet weights {weights_path} not found; the saved model is incomplete.")
        unet = UNet2DModel.from_config(UNet2DModel.load_config(directory / UNET_FOLDER))
        state_dict = load_file(weights_path)
        resized = resize_to_state_dict(unet, state_dict)
        unet.load_state_dict(state_dict, strict=True)
        scheduler = DDPMScheduler.from_pretrained(directory / SCHEDULER_FOLDER)
        logger.info("Loaded pixel UNet from %s (%d tensors resized to pruned shapes)", directory, resized)
        return DiffusionModel(unet, scheduler, config, image_shape, self.name)


register_family(PixelFamily())
