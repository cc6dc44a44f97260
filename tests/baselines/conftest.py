"""Tiny diffusers models and seeded images for the baseline tests."""

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel


def build_tiny_unet(seed: int = 0) -> UNet2DModel:
    """Build a 177k-parameter UNet for 8x8 RGB images with attention at the second level."""
    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=8,
    ).eval()


@pytest.fixture(scope="module")
def tiny_model() -> tuple[UNet2DModel, DDPMScheduler]:
    """A `(unet, scheduler)` pair with a 100-step linear schedule."""
    return build_tiny_unet(), DDPMScheduler(num_train_timesteps=100)


@pytest.fixture(scope="module")
def train_data() -> tuple[torch.Tensor, torch.Tensor]:
    """12 training images float [12, 3, 8, 8] in [-1, 1] and labels of 3 contributors."""
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(12, 3, 8, 8, generator=generator) * 2 - 1
    labels = torch.arange(12) % 3
    return images, labels


@pytest.fixture(scope="module")
def generated_images() -> torch.Tensor:
    """4 generated images, uint8 [4, 3, 8, 8]."""
    generator = torch.Generator().manual_seed(2)
    return torch.randint(0, 256, (4, 3, 8, 8), generator=generator, dtype=torch.uint8)
