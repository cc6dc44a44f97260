"""The diffusion training loop: loss, seeding, exact resume, fine-tuning rules."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_credit import training
from diffusion_credit.config import ConfigError, FinetuneConfig, ModelConfig, TrainingConfig
from diffusion_credit.models import DiffusionModel, create_model
from diffusion_credit.training import CHECKPOINT_FILE, batch_indices, finetune, learning_rate_at, train

SHAPE = (3, 8, 8)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images(example_data_dir: Path) -> torch.Tensor:
    """Four real example images, float32 [4, 3, 8, 8] in [-1, 1]."""
    paths = [example_data_dir / name / "0000.jpg" for name in ("airplane", "cat", "ship", "truck")]
    arrays = [np.asarray(Image.open(path).convert("RGB").resize((8, 8), Image.BICUBIC)) for path in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def tiny_model(seed: int = 0) -> DiffusionModel:
    config = ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4)
    return create_model(config, SHAPE, seed=seed)


def fixed_loss(model: DiffusionModel, images: torch.Tensor) -> float:
    generator = torch.Generator().manual_seed(99)
    timesteps = torch.randint(0, 1000, (64,), generator=generator)
    noise = torch.randn((64, *SHAPE), generator=generator)
    with torch.no_grad():
        return float(model.training_loss(images.repeat(16, 1, 1, 1), noise, timesteps))


def assert_same_weights(first: DiffusionModel, second: DiffusionModel) -> None:
    first_state, second_state = first.unet.state_dict(), second.unet.state_dict()
    assert first_state.keys() == second_state.keys()
    for name in first_state:
        assert torch.equal(first_state[name], second_state[name]), name


def test_loss_falls_on_fixed_batch(images):
    model = tiny_model()
    before = fixed_loss(model, images)
    result = train(model, images, TrainingConfig(steps=60, batch_size=4, learning_rate=2e-3), progress=False)
    after = fixed_loss(model, images)
    assert result.steps == 60
    assert len(result.losses) == 60
    assert after < 0.6 * before
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])


def test_training_is_reproducible(images):
    config = TrainingConfig(steps=4, batch_size=3, seed=5)
    first, second = tiny_model(), tiny_model()
    assert train(first, images, config, progress=False).losses == train(second, images, config, progress=False).losses
    assert_same_weights(first, second)


def test_resume_matches_uninterrupted_run(images, tmp_path):
    config = dict(batch_size=3, learning_rate=1e-3, ema_decay=0.9, checkpoint_every=2, seed=1)
    uninterrupted = tiny_model()
    full = train(uninterrupted, images, TrainingConfig(steps=8, **config), progress=False)

    interrupted = tiny_model()
    train(interrupted, images, TrainingConfig(steps=4, **config), checkpoint_dir=tmp_path, progress=False)
    resumed = tiny_model()
    result = train(resumed, images, TrainingConfig(steps=8, **config), checkpoint_dir=tmp_path, progress=False)

    assert result.resumed_from == 4
    assert result.losses == full.losses
    assert_same_weights(resumed, uninterrupted)


def test_resume_after_crash_between_checkpoints(images, tmp_path, monkeypatch):
    config = TrainingConfig(steps=7, batch_size=2, checkpoint_every=3, seed=2)
    uninterrupted = tiny_model()
    train(uninterrupted, images, config, progress=False)

    original_step = training._train_step

    def crash_at_step_five(model, data, step, *args):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")
        return original_step(model, data, step, *args)

    monkeypatch.setattr(training, "_train_step", crash_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), images, config, checkpoint_dir=tmp_path, progress=False)
    monkeypatch.setattr(training, "_train_step", original_step)
    assert [path.name for path in tmp_path.iterdir()] == [CHECKPOINT_FILE]

    resumed = tiny_model()
    result = train(resumed, images, config, checkpoint_dir=tmp_path, progress=False)
    assert result.resumed_from == 3
    assert_same_weights(resumed, uninterrupted)


def test_unreadable_checkpoint_starts_over(images, tmp_path, caplog):
    config = TrainingConfig(steps=4, batch_size=2, checkpoint_every=2, seed=3)
    uninterrupted = tiny_model()
    train(uninterrupted, images, config, progress=False)
    train(tiny_model(), images, TrainingConfig(steps=2, batch_size=2, checkpoint_every=2, seed=3), checkpoint_dir=tmp_path, progress=False)
    checkpoint = tmp_path / CHECKPOINT_FILE
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])

    restarted = tiny_model()
    with caplog.at_level("WARNING", logger="diffusion_credit.training"):
        result = train(restarted, images, config, checkpoint_dir=tmp_path, progress=False)

    assert result.resumed_from == 0
    assert len(result.losses) == 4
    assert_same_weights(restarted, uninterrupted)
    assert f"Checkpoint {checkpoint} is unreadable" in caplog.text
    assert (tmp_path / f"{CHECKPOINT_FILE}.unreadable").is_file()
    assert torch.load(checkpoint, weights_only=True)["step"] == 4


def test_checkpoint_from_other_settings_rejected(images, tmp_path):
    train(tiny_model(), images, TrainingConfig(steps=2, batch_size=2), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        train(tiny_model(), images, TrainingConfig(steps=4, batch_size=2, learning_rate=1e-3), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="num_images"):
        train(tiny_model(), images[:3], TrainingConfig(steps=4, batch_size=2), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="beyond the requested steps"):
        train(tiny_model(), images, TrainingConfig(steps=1, batch_size=2), checkpoint_dir=tmp_path)


def test_ema_weights_used_at_end(images, tmp_path):
    plain = tiny_model()
    train(plain, images, TrainingConfig(steps=5, batch_size=2), progress=False)
    averaged = tiny_model()
    train(averaged, images, TrainingConfig(steps=5, batch_size=2, ema_decay=0.9), checkpoint_dir=tmp_path, progress=False)

    raw = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["unet"]
    for name, tensor in plain.unet.state_dict().items():
        assert torch.equal(raw[name], tensor), name
    assert not torch.equal(averaged.unet.conv_in.weight, plain.unet.conv_in.weight)


def test_finetune_does_not_inherit_ema(images):
    base = tiny_model()
    train(base, images, TrainingConfig(steps=3, batch_size=2, ema_decay=0.5), progress=False)
    tuned = DiffusionModel(**{**base.__dict__, "unet": _copy(base.unet)})
    reference = DiffusionModel(**{**base.__dict__, "unet": _copy(base.unet)})

    finetune(tuned, images[:2], FinetuneConfig(steps=3, batch_size=2, seed=4), progress=False)
    train(reference, images[:2], TrainingConfig(steps=3, batch_size=2, seed=4, ema_decay=None), progress=False)
    assert_same_weights(tuned, reference)
    assert FinetuneConfig().as_training().ema_decay is None
    with pytest.raises(TypeError, match="FinetuneConfig"):
        finetune(tuned, images, TrainingConfig(steps=2, ema_decay=0.9))


def test_finetune_warmup_longer_than_steps_rejected(images):
    with pytest.raises(ConfigError, match="warmup_steps"):
        finetune(tiny_model(), images, FinetuneConfig(steps=200, warmup_steps=500), progress=False)


def test_coalition_smaller_than_batch(images):
    model = tiny_model()
    result = finetune(model, images[:1], FinetuneConfig(steps=2, batch_size=5), progress=False)
    assert len(result.losses) == 2


def test_batch_indices_are_epoch_shuffles():
    stream = torch.cat([batch_indices(seed=3, step=step, batch_size=7, num_images=5) for step in range(5)])
    assert len(stream) == 35
    for epoch in range(7):
        assert sorted(stream[epoch * 5 : (epoch + 1) * 5].tolist()) == [0, 1, 2, 3, 4]
    assert torch.equal(batch_indices(3, 4, 7, 5), stream[28:35])
    assert not torch.equal(batch_indices(4, 0, 7, 5), stream[:7])
    with pytest.raises(ValueError, match="empty"):
        batch_indices(0, 0, 4, 0)


def test_learning_rate_warmup():
    config = TrainingConfig(steps=10, learning_rate=1.0, warmup_steps=3)
    assert [learning_rate_at(step, config) for step in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert learning_rate_at(0, TrainingConfig(steps=10, learning_rate=0.5)) == 0.5


def test_bad_images_rejected(images):
    config = TrainingConfig(steps=1, batch_size=2)
    with pytest.raises(ValueError, match=r"\[N, 3, 8, 8\]"):
        train(tiny_model(), images[:, :1], config)
    with pytest.raises(ValueError, match="No training images"):
        train(tiny_model(), images[:0], config)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train(tiny_model(), images * 255, config)
    with pytest.raises(ValueError, match="float"):
        train(tiny_model(), images.to(torch.uint8), config)
    with pytest.raises(ValueError, match="fp16"):
        train(tiny_model(), images, TrainingConfig(steps=1, mixed_precision="fp16"), progress=False)


def test_bf16_autocast_runs_on_cpu(images):
    result = train(tiny_model(), images, TrainingConfig(steps=2, batch_size=2, mixed_precision="bf16"), progress=False)
    assert all(np.isfinite(result.losses))


def _copy(module: torch.nn.Module) -> torch.nn.Module:
    clone = type(module).from_config(module.config)
    clone.load_state_dict(module.state_dict())
    return clone
