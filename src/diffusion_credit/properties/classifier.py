"""The in-project contributor classifier behind the offline `study` backend.

A small CNN is trained on the study's own images with the contributor as the
label, so a property such as the Inception Score can be measured without any
pretrained weights. Its `p(y | x)` is the probability that image `x` looks
like contributor `y`'s data. Training is seeded and deterministic on CPU, holds out
a stratified share of each contributor's images to report accuracy, and the
result is cached on disk under a digest of the dataset and the settings, so a
second build loads the weights instead of training.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from diffusion_credit.config import digest

__all__ = [
    "ENTRY_FILES",
    "entry_is_complete",
    "ClassifierSettings",
    "ContributorCNN",
    "ContributorClassifier",
    "train_classifier",
    "load_or_train_classifier",
    "classifier_key",
]

logger = logging.getLogger(__name__)

ENTRY_FILES = ("model.safetensors", "meta.json")
"""The files of a classifier cache entry `<cache_dir>/classifiers/<digest>/`."""

# Bump when the architecture or the training recipe changes, so that cached
# classifiers trained by older code are not reused.
RECIPE_VERSION = 1


@dataclass(frozen=True)
class ClassifierSettings:
    """Everything besides the dataset that determines the trained classifier.

    Attributes:
        steps: optimiser steps (Adam).
        seed: seeds weight init, the held-out split, batches and augmentation.
        learning_rate: Adam learning rate.
        batch_size: images per step.
        holdout_fraction: share of each contributor's images held out to
            measure accuracy, in [0, 1); 0 trains on everything.
        widths: channels of the three convolution blocks; the last one is the
            feature dimension of `features`.
        crop_padding: pixels of reflect padding before the random crop.
    """

    steps: int = 600
    seed: int = 0
    learning_rate: float = 1e-3
    batch_size: int = 64
    holdout_fraction: float = 0.1
    widths: tuple[int, int, int] = (32, 64, 128)
    crop_padding: int = 2

    def validate(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"classifier {name} must be a positive integer, got {value}.")
        if not 0 <= self.holdout_fraction < 1:
            raise ValueError(f"classifier holdout_fraction must be in [0, 1), got {self.holdout_fraction}.")
        if self.learning_rate <= 0:
            raise ValueError(f"classifier learning_rate must be positive, got {self.learning_rate}.")
        if self.crop_padding < 0:
            raise ValueError(f"classifier crop_padding must be >= 0, got {self.crop_padding}.")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["widths"] = list(self.widths)
        return values


class ContributorCNN(nn.Module):
    """Three conv-BN-ReLU blocks, global average pooling and a linear head.

    Input float32 [N, C, H, W] in [-1, 1] with H, W >= 4; `features` returns
    the pooled penultimate activations [N, widths[-1]], `forward` the logits
    [N, num_classes]. About 95k parameters at the default widths.
    """

    def __init__(self, channels: int, num_classes: int, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()
        blocks = []
        in_channels = channels
        for index, width in enumerate(widths):
            blocks += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if index < len(widths) - 1:
                blocks.append(nn.MaxPool2d(2))
            in_channels = width
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(in_channels, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise the weights from `generator` (PyTorch's default scheme)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    bound = 1 / math.sqrt(module.weight[0].numel())
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)


class ContributorClassifier:
    """A trained contributor classifier bound to one study's image format.

    Attributes:
        network: the trained `ContributorCNN`, in eval mode, on `device`.
        contributors: class names, index `k` is contributor `k`.
        channels, resolution: the image format it was trained on.
        digest: identity of the trained weights (dataset digest + settings).
        holdout_accuracy: top-1 accuracy on the held-out split, or None when
            nothing was held out.
    """

    def __init__(
        self,
        network: ContributorCNN,
        *,
        contributors: list[str],
        channels: int,
        resolution: int,
        digest: str,
        holdout_accuracy: float | None,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
    ):
        self.network = network.to(device).eval()
        self.contributors = list(contributors)
        self.channels = channels
        self.resolution = resolution
        self.digest = digest
        self.holdout_accuracy = holdout_accuracy
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Return p(contributor | image), float32 [N, K] on the CPU.

        Args:
            images: float [N, C, H, W] in [-1, 1] at the study's channels and
                resolution.
        """
        return self._batched(images, lambda x: torch.softmax(self.network(x).double(), dim=1).float())

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Return the penultimate-layer features, float32 [N, widths[-1]] on the CPU.

        Args:
            images: float [N, C, H, W] in [-1, 1] at the study's channels and
                resolution.
        """
        return self._batched(images, self.network.features)

    def _batched(self, images: torch.Tensor, function) -> torch.Tensor:
        self.check_input(images)
        outputs = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device, torch.float32)
            outputs.append(function(batch).float().cpu())
        return torch.cat(outputs)

    def check_input(self, images: torch.Tensor) -> None:
        """Check that `images` is a finite float batch in [-1, 1] in the study's format, else raise TypeError or ValueError."""
        expected = (self.channels, self.resolution, self.resolution)
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
            raise TypeError(f"The classifier takes float images in [-1, 1], got {kind}; convert uint8 with x / 127.5 - 1.")
        if images.ndim != 4 or tuple(images.shape[1:]) != expected or images.shape[0] == 0:
            raise ValueError(
                f"The classifier takes a non-empty batch [N, {expected[0]}, {expected[1]}, {expected[2]}] at the "
                f"study's channels and resolution, got shape {tuple(images.shape)}; generate at the study resolution."
            )
        if not torch.isfinite(images).all():
            raise ValueError("The classifier input contains NaN or infinite values; check the generated images.")
        low, high = images.min().item(), images.max().item()
        if low < -1.001 or high > 1.001:
            raise ValueError(f"The classifier takes images in [-1, 1], got values in [{low:.3g}, {high:.3g}].")


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    settings: ClassifierSettings,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[ContributorCNN, float | None]:
    """Train a `ContributorCNN` with random flips and crops, seeded.

    Args:
        images: float32 [N, C, H, W] in [-1, 1].
        labels: int64 [N] in [0, num_classes).
        num_classes: number of contributors K.
        settings: steps, seed and the rest of the recipe.
        device: where to train.
        progress: show a tqdm bar over steps.

    Returns:
        The network in eval mode and its held-out top-1 accuracy (None when
        `settings.holdout_fraction` is 0).
    """
    settings.validate()
    train_index, holdout_index = _holdout_split(labels.numpy(), settings.holdout_fraction, settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    network = ContributorCNN(images.shape[1], num_classes, settings.widths)
    network.reset_parameters(generator)
    network.to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)

    train_images, train_labels = images[train_index], labels[train_index]
    batches = _batch_indices(len(train_index), settings.batch_size, settings.steps, generator)
    for batch in tqdm(batches, desc="train classifier", disable=not progress, leave=False):
        inputs = _augment(train_images[batch], settings.crop_padding, generator).to(device)
        loss = F.cross_entropy(network(inputs), train_labels[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    network.eval()
    accuracy = None
    if len(holdout_index):
        with torch.no_grad():
            predicted = network(images[holdout_index].to(device)).argmax(dim=1).cpu()
        accuracy = float((predicted == labels[holdout_index]).float().mean())
    logger.info("Trained the contributor classifier for %d steps; held-out accuracy %s", settings.steps, accuracy)
    return network, accuracy


def load_or_train_classifier(
    dataset: Any,
    settings: ClassifierSettings,
    *,
    cache_dir: str | Path = ".cache/diffusion-credit",
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> ContributorClassifier:
    """Load the study's classifier from the cache, or train and cache it.

    The cache entry is `<cache_dir>/classifiers/<digest>/` with
    `model.safetensors` and `meta.json`, where the digest covers
    `dataset.digest`, the image format, the contributors and `settings`.
    The entry is written to a temporary folder and renamed, so an
    interrupted run never leaves a half-written entry behind.

    Args:
        dataset: has `images` float32 [N, C, H, W] in [-1, 1], `labels` int64
            [N], `contributors` (list of names) and `digest` (str).
        settings: the training recipe.
        cache_dir: root cache folder.
        device: where to train and predict.
        progress: show a tqdm bar while training.
    """
    images, labels = _check_dataset(dataset)
    channels, resolution = images.shape[1], images.shape[2]
    contributors = list(dataset.contributors)
    key = classifier_key(dataset, settings)
    entry = Path(cache_dir) / "classifiers" / key
    network = ContributorCNN(channels, len(contributors), settings.widths)

    if entry_is_complete(entry):
        network.load_state_dict(load_file(entry / "model.safetensors"))
        meta = json.loads((entry / "meta.json").read_text())
        logger.info("Loaded the contributor classifier %s from %s", key, entry)
    else:
        network, accuracy = train_classifier(images, labels, len(contributors), settings, device=device, progress=progress)
        meta = {"digest": key, "holdout_accuracy": accuracy, "settings": settings.to_dict(), "contributors": contributors}
        _write_entry(entry, network, meta)

    return ContributorClassifier(
        network,
        contributors=contributors,
        channels=channels,
        resolution=resolution,
        digest=key,
        holdout_accuracy=meta["holdout_accuracy"],
        device=device,
    )


def classifier_key(dataset: Any, settings: ClassifierSettings) -> str:
    """Return the cache key of the classifier trained on `dataset` with `settings`.

    It covers `dataset.digest`, the image format, the contributors, the
    settings and the recipe version; the cache entry is
    `<cache_dir>/classifiers/<key>/`.
    """
    channels, resolution = dataset.images.shape[1], dataset.images.shape[2]
    return digest(str(dataset.digest), [int(channels), int(resolution)], list(dataset.contributors), settings.to_dict(), RECIPE_VERSION)


def _check_dataset(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = dataset.images, dataset.labels
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim != 4:
        raise ValueError("dataset.images must be a float tensor [N, C, H, W] in [-1, 1].")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"dataset.images must be square, got shape {tuple(images.shape)}.")
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.shape != (images.shape[0],):
        raise ValueError(f"dataset.labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}.")
    if len(dataset.contributors) < 2:
        raise ValueError(f"The study classifier needs at least 2 contributors, got {len(dataset.contributors)}.")
    if labels.min() < 0 or labels.max() >= len(dataset.contributors):
        raise ValueError(f"dataset.labels must index dataset.contributors (0..{len(dataset.contributors) - 1}).")
    return images.to(torch.float32).cpu(), labels.cpu()


def _holdout_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out round(fraction * count) images of each contributor with >= 2 images."""
    rng = np.random.default_rng(seed)
    train, holdout = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(fraction * len(members))) if len(members) >= 2 else 0
        if fraction > 0 and len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        holdout.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(holdout))


def _batch_indices(count: int, batch_size: int, steps: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Return `steps` index batches from successive seeded permutations of range(count)."""
    batches: list[torch.Tensor] = []
    order = torch.empty(0, dtype=torch.int64)
    while len(batches) < steps:
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(count, generator=generator)])
        batches.append(order[:batch_size])
        order = order[batch_size:]
    return batches


def _augment(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2, then crop it at a random offset after reflect padding."""
    flips = torch.rand(images.shape[0], generator=generator) < 0.5
    images = torch.where(flips[:, None, None, None], images.flip(3), images)
    if padding == 0:
        return images

    height, width = images.shape[2], images.shape[3]
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * padding + 1, (images.shape[0], 2), generator=generator)
    crops = [padded[i, :, y : y + height, x : x + width] for i, (y, x) in enumerate(offsets.tolist())]
    return torch.stack(crops)


def entry_is_complete(entry: Path) -> bool:
    """Return whether a classifier cache entry has every file of `ENTRY_FILES`."""
    return all((Path(entry) / name).is_file() for name in ENTRY_FILES)


def _write_entry(entry: Path, network: ContributorCNN, meta: dict[str, Any]) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
        save_file(state, staging / "model.safetensors")
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        if entry.is_dir() and not entry_is_complete(entry):
            logger.warning("Cache entry %s lacks one of %s; replacing it", entry, ", ".join(ENTRY_FILES))
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(staging, entry)
            logger.info("Cached the contributor classifier at %s", entry)
        except OSError:
            # Another process wrote this entry first from the same data and recipe, so keep it.
            logger.info("Cache entry %s already exists; keeping it", entry)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
