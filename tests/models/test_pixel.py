"""The pixel model family: construction, seeding, save and load."""

import json

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from diffusion_credit.config import ConfigError, ModelConfig, SchedulerConfig
from diffusion_credit.models import DiffusionModel, build_ddim_scheduler, create_model, get_family

SHAPE = (3, 8, 8)


def tiny_config(**overrides) -> ModelConfig:
    settings = dict(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4)
    settings.update(overrides)
    return ModelConfig(**settings)


def probe(model: DiffusionModel) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    x_t = torch.randn((3, *SHAPE), generator=generator)
    with torch.no_grad():
        return model.predict_noise(x_t, torch.tensor([0, 500, 999]))


def test_create_is_seeded_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    first = create_model(tiny_config(), SHAPE, seed=3)
    second = create_model(tiny_config(), SHAPE, seed=3)
    other = create_model(tiny_config(), SHAPE, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(probe(first), probe(second))
    assert not torch.equal(probe(first), probe(other))


def test_architecture_follows_config():
    model = create_model(tiny_config(), SHAPE, seed=0)
    unet = model.unet
    assert [type(block).__name__ for block in unet.down_blocks] == ["DownBlock2D", "AttnDownBlock2D"]
    assert [type(block).__name__ for block in unet.up_blocks] == ["AttnUpBlock2D", "UpBlock2D"]
    assert unet.conv_in.out_channels == 16
    assert unet.conv_out.out_channels == 3
    assert unet.conv_norm_out.num_groups == 4
    assert isinstance(model.noise_scheduler, DDPMScheduler)
    assert model.noise_scheduler.config.prediction_type == "epsilon"
    assert probe(model).shape == (3, *SHAPE)


def test_scheduler_follows_config():
    schedule = SchedulerConfig(num_train_timesteps=100, beta_start=0.001, beta_end=0.03)
    model = create_model(tiny_config(scheduler=schedule), SHAPE, seed=0)
    betas = model.noise_scheduler.betas
    assert len(betas) == 100
    assert betas[0].item() == pytest.approx(0.001)
    assert betas[-1].item() == pytest.approx(0.03)


def test_ddim_shares_schedule():
    model = create_model(tiny_config(), SHAPE, seed=0)
    ddim = build_ddim_scheduler(model.noise_scheduler, 25)
    assert isinstance(ddim, DDIMScheduler)
    assert len(ddim.timesteps) == 25
    assert torch.equal(ddim.alphas_cumprod, model.noise_scheduler.alphas_cumprod)
    with pytest.raises(ValueError, match="num_inference_steps"):
        build_ddim_scheduler(model.noise_scheduler, 0)


def test_save_load_identical(tmp_path):
    model = create_model(tiny_config(), SHAPE, seed=1)
    model.save(tmp_path / "model")
    loaded = DiffusionModel.load(tmp_path / "model")
    assert torch.equal(probe(loaded), probe(model))
    assert loaded.config == model.config
    assert loaded.image_shape == SHAPE
    assert loaded.num_parameters() == model.num_parameters()
    metadata = json.loads((tmp_path / "model" / "diffusion_model.json").read_text())
    assert metadata["family"] == "pixel"
    assert list((tmp_path / "model" / "unet").glob("*.safetensors"))


def test_save_replaces_existing(tmp_path):
    create_model(tiny_config(), SHAPE, seed=1).save(tmp_path / "model")
    second = create_model(tiny_config(), SHAPE, seed=2)
    second.save(tmp_path / "model")
    assert torch.equal(probe(DiffusionModel.load(tmp_path / "model")), probe(second))
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_load_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved DiffusionModel"):
        DiffusionModel.load(tmp_path)


def test_invalid_inputs_rejected():
    with pytest.raises(ValueError, match="divisible by 2"):
        create_model(tiny_config(block_out_channels=[16, 32, 32, 32], attention_levels=[False] * 4), (3, 4, 4), seed=0)
    with pytest.raises(ValueError, match="square"):
        create_model(tiny_config(), (3, 8, 16), seed=0)
    with pytest.raises(ValueError, match="image_shape"):
        create_model(tiny_config(), (8, 8), seed=0)
    with pytest.raises(ConfigError, match="attention_levels"):
        create_model(tiny_config(attention_levels=[True]), SHAPE, seed=0)
    with pytest.raises(ValueError, match="Unknown model family"):
        get_family("video")


@pytest.mark.parametrize("family", ["latent", "lora"])
def test_planned_families_not_implemented(family):
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        create_model(tiny_config(family=family), SHAPE, seed=0)
