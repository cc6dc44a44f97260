"""Diffusion-loss training: the full model, coalition fine-tuning and retraining.

One loop serves all three uses. Every random draw of step `s` (which images
form the batch, the timesteps, the noise) comes from generators seeded by
`(config.seed, s)`, so a run is a pure function of the initial weights, the
images and the config. Checkpoints therefore only need the weights, the
optimizer state, the EMA state and the step, and a run resumed from a
checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from diffusion_credit.config import FinetuneConfig, TrainingConfig
from diffusion_credit.errors import InputError
from diffusion_credit.models import DiffusionModel
from diffusion_credit.sampling import derive_seed

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "training_state.pt"

# Settings that change the trajectory of a run; `steps` and
# `checkpoint_every` are left out so that a run can be resumed and extended.
_TRAJECTORY_FIELDS = (
    "batch_size",
    "learning_rate",
    "optimizer",
    "weight_decay",
    "warmup_steps",
    "grad_clip",
    "ema_decay",
    "mixed_precision",
    "seed",
)


@dataclass
class TrainResult:
    """Outcome of `train`.

    Attributes:
        losses: training loss of every step from step 0, including steps
            restored from a checkpoint.
        steps: the number of optimizer steps the model has now had.
        seconds: wall time of this call.
        resumed_from: the step the run resumed at (0 for a fresh run).
    """

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int = 0


def train(
    model: DiffusionModel,
    images: torch.Tensor,
    config: TrainingConfig,
    *,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `model` in place on `images` with the ε-prediction loss.

    Args:
        model: the model to train (random init, a trained model to fine-tune,
            or a pruned one); its UNet is moved to `device`.
        images: float32 [N, C, H, W] in [-1, 1], N ≥ 1. Batches are drawn
            without replacement from successive seeded shuffles, so any N
            works, also N smaller than the batch size.
        config: steps, batch size, optimizer (`adam`/`adamw`), learning rate
            with linear warmup then constant, gradient clipping, EMA decay,
            mixed precision and seed.
        device: where to train, e.g. `"cpu"` or `"cuda:0"`.
        checkpoint_dir: if given, the state after every `config.checkpoint_every`
            steps and after the last step is written there atomically, and a
            state found there is resumed from.
        progress: show a tqdm bar.

    Returns:
        The losses, the step count and the wall time. When `config.ema_decay`
        is set, the model ends with the EMA weights.

    Raises:
        ValueError: on images of the wrong shape or range of values, or a
            checkpoint from another configuration or a longer run.
    """
    started = time.perf_counter()
    config.validate()
    device = torch.device(device)
    data = _check_images(images, model.image_shape)
    data = model.family_impl.to_training_space(model, data)
    unet = model.unet.to(device)
    unet.train()
    parameters = [parameter for parameter in unet.parameters() if parameter.requires_grad]
    optimizer = _make_optimizer(parameters, config)
    ema = EMAModel(parameters, decay=config.ema_decay) if config.ema_decay is not None else None
    scaler = torch.amp.GradScaler(device.type, enabled=config.mixed_precision == "fp16")
    fingerprint = _fingerprint(config, data)
    checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None

    losses: list[float] = []
    start_step = 0
    if checkpoint_path is not None and checkpoint_path.is_file():
        start_step, losses = _restore(checkpoint_path, fingerprint, config, unet, optimizer, ema, scaler)

    steps = tqdm(range(start_step, config.steps), desc="training", unit="step", disable=not progress)
    for step in steps:
        loss = _train_step(model, data, step, config, optimizer, scaler, parameters, device)
        if ema is not None:
            ema.step(parameters)
        losses.append(loss)
        steps.set_postfix(loss=f"{loss:.4f}", refresh=False)
        finished = step + 1
        if checkpoint_path is not None and (finished % config.checkpoint_every == 0 or finished == config.steps):
            _save_checkpoint(checkpoint_path, finished, losses, fingerprint, unet, optimizer, ema, scaler)

    if ema is not None:
        ema.copy_to(parameters)
    seconds = time.perf_counter() - started
    logger.info(
        "Trained %d steps (resumed at %d) in %.1f s; last loss %.4f",
        config.steps,
        start_step,
        seconds,
        losses[-1] if losses else float("nan"),
    )
    return TrainResult(losses=losses, steps=config.steps, seconds=seconds, resumed_from=start_step)


def finetune(
    model: DiffusionModel,
    images: torch.Tensor,
    config: FinetuneConfig,
    *,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Fine-tune a trained (possibly pruned) model on a coalition's images.

    A fresh optimizer is built and no EMA is used, so nothing of the
    full-data training state carries over; only the weights do.

    Raises:
        TypeError: if `config` is not a `FinetuneConfig` (a `TrainingConfig`
            could carry an EMA decay).
    """
    if not isinstance(config, FinetuneConfig):
        raise TypeError(
            f"finetune expects a FinetuneConfig, got {type(config).__name__}; use train() for a TrainingConfig."
        )
    return train(model, images, config.as_training(), device=device, checkpoint_dir=checkpoint_dir, progress=progress)


def batch_indices(seed: int, step: int, batch_size: int, num_images: int) -> torch.Tensor:
    """Return the image indices of step `step`'s batch, int64 [batch_size].

    The indices are positions `step * batch_size ..` of an endless sequence
    of shuffles of `range(num_images)`, shuffle `e` seeded by `(seed, e)`.
    Each epoch thus visits every image once, and the batch of any step can be
    computed without replaying the steps before it.
    """
    if num_images <= 0:
        raise ValueError(f"Cannot draw batches from {num_images} images; the training set is empty.")
    first = step * batch_size
    last = first + batch_size
    epochs = range(first // num_images, (last - 1) // num_images + 1)
    order = torch.cat([_epoch_order(seed, epoch, num_images) for epoch in epochs])
    offset = epochs[0] * num_images
    return order[first - offset : last - offset]


def learning_rate_at(step: int, config: TrainingConfig) -> float:
    """Learning rate of step `step`: linear warmup over `warmup_steps`, then constant."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / (config.warmup_steps + 1)
    return config.learning_rate


def _train_step(
    model: DiffusionModel,
    data: torch.Tensor,
    step: int,
    config: TrainingConfig,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    parameters: list[torch.nn.Parameter],
    device: torch.device,
) -> float:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate_at(step, config)

    clean = data[batch_indices(config.seed, step, config.batch_size, len(data))]
    generator = torch.Generator().manual_seed(derive_seed(config.seed, "noise", step))
    timesteps = torch.randint(0, model.noise_scheduler.config.num_train_timesteps, (len(clean),), generator=generator)
    noise = torch.randn(clean.shape, generator=generator)
    clean, noise, timesteps = clean.to(device), noise.to(device), timesteps.to(device)

    with _autocast(config.mixed_precision, device):
        loss = model.training_loss(clean, noise, timesteps)
    scaler.scale(loss).backward()
    if config.grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _autocast(mixed_precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if mixed_precision == "no":
        return contextlib.nullcontext()
    if mixed_precision == "fp16" and device.type == "cpu":
        raise ValueError("mixed_precision='fp16' needs a GPU; use 'bf16' or 'no' on the CPU.")
    dtype = torch.float16 if mixed_precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def _make_optimizer(parameters: list[torch.nn.Parameter], config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)


def _epoch_order(seed: int, epoch: int, num_images: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(derive_seed(seed, "epoch", epoch))
    return torch.randperm(num_images, generator=generator)


def _check_images(images: torch.Tensor, image_shape: tuple[int, int, int]) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"Training images must be a tensor [N, {', '.join(map(str, image_shape))}], got {shape}.")
    if len(images) == 0:
        raise ValueError("No training images: the coalition or dataset is empty; v(∅) is the untrained model.")
    if not images.is_floating_point():
        raise ValueError(f"Training images must be float in [-1, 1], got dtype {images.dtype}.")
    low, high = float(images.min()), float(images.max())
    if low < -1.001 or high > 1.001:
        raise ValueError(f"Training images must lie in [-1, 1], got values in [{low:.3f}, {high:.3f}]; rescale them.")
    return images.float()


def _fingerprint(config: TrainingConfig, data: torch.Tensor) -> dict:
    settings = {name: getattr(config, name) for name in _TRAJECTORY_FIELDS}
    settings["num_images"] = len(data)
    settings["data_sum"] = float(data.double().sum())
    return settings


def _save_checkpoint(
    path: Path,
    step: int,
    losses: list[float],
    fingerprint: dict,
    unet: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: EMAModel | None,
    scaler: torch.amp.GradScaler,
) -> None:
    state = {
        "step": step,
        "losses": list(losses),
        "fingerprint": fingerprint,
        "unet": unet.state_dict(),
        "optimizer": optimizer.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "scaler": scaler.state_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)
    logger.debug("Wrote training checkpoint at step %d to %s", step, path)


def _read_checkpoint(path: Path) -> dict | None:
    """Return the training state saved in `path`, or None after moving an unreadable file aside.

    Checkpoints are written atomically, so a damaged one comes from the disk
    or another program. Its steps cannot be recovered, so training starts
    over, and the file stays as `<name>.unreadable` for inspection.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        aside = path.with_name(f"{path.name}.unreadable")
        os.replace(path, aside)
        logger.warning("Checkpoint %s is unreadable (%s), so training starts from step 0. The file is now %s.", path, error, aside)
        return None


def _restore(
    path: Path,
    fingerprint: dict,
    config: TrainingConfig,
    unet: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: EMAModel | None,
    scaler: torch.amp.GradScaler,
) -> tuple[int, list[float]]:
    state = _read_checkpoint(path)
    if state is None:
        return 0, []

    changed = {
        key: (state["fingerprint"].get(key), value)
        for key, value in fingerprint.items()
        if state["fingerprint"].get(key) != value
    }
    if changed:
        raise InputError(
            f"Checkpoint {path} was written with other settings or data ({changed}, as saved vs now); "
            "delete it or pass another checkpoint_dir to start over."
        )
    if state["step"] > config.steps:
        raise InputError(
            f"Checkpoint {path} is at step {state['step']}, beyond the requested steps={config.steps}; "
            "request at least that many steps or delete the checkpoint."
        )
    try:
        unet.load_state_dict(state["unet"])
    except RuntimeError as error:
        raise InputError(f"Checkpoint {path} does not fit this model's architecture: {error}") from error
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    scaler.load_state_dict(state["scaler"])
    logger.info("Resumed training from %s at step %d", path, state["step"])
    return int(state["step"]), [float(loss) for loss in state["losses"]]


__all__ = ["TrainResult", "batch_indices", "finetune", "learning_rate_at", "train"]

