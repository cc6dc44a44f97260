"""Backend networks that embed or classify generated images for a property.

A backend takes uint8 images [N, C, H, W] (C in {1, 3}) and returns CPU
float32 tensors: `features` [N, D] for every backend, `predict_proba` [N, K]
for the classifying ones (`study`, `inception`). It runs batched on its
device, and its `settings` identify the network (kind, weights source and a
digest of the weights) so that a property's eval key changes whenever the
network does.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties.base import uint8_to_unit
from diffusion_credit.properties.classifier import ClassifierSettings, ContributorClassifier, load_or_train_classifier
from diffusion_credit.properties.inception import FID_WEIGHTS_URL, load_fid_inception

__all__ = [
    "EmbeddingBackend",
    "StudyBackend",
    "InceptionBackend",
    "build_backend",
    "classifier_settings",
    "module_digest",
]

logger = logging.getLogger(__name__)


class EmbeddingBackend(abc.ABC):
    """A network that maps uint8 images to features and, optionally, class probabilities.

    Attributes:
        kind: the backend name in `PropertyConfig.backend`.
        device: where the network runs.
        batch_size: images per forward pass.
        progress: show a tqdm bar over batches.
    """

    kind: str = ""

    def __init__(self, *, device: str | torch.device = "cpu", batch_size: int = 128, progress: bool = False):
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.progress = progress

    @property
    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Identity of the network: kind, weights source, weights digest and input size."""

    @abc.abstractmethod
    def _features(self, images: torch.Tensor) -> torch.Tensor:
        """Embed one batch of uint8 images already on `device`."""

    def _predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            f"Backend {self.kind!r} does not classify images; use backend 'study' or 'inception' for the Inception Score."
        )

    @property
    def classifies(self) -> bool:
        """Whether `predict_proba` is available."""
        return type(self)._predict_proba is not EmbeddingBackend._predict_proba

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Return the embedding of each image, float32 [N, D] on the CPU.

        Args:
            images: torch.uint8 [N, C, H, W], C in {1, 3}.
        """
        return self._map_batches(self._features, images, "embed")

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Return class probabilities p(y | x), float32 [N, K] on the CPU (rows sum to 1).

        Args:
            images: torch.uint8 [N, C, H, W], C in {1, 3}.

        Raises:
            NotImplementedError: the backend only embeds.
        """
        if not self.classifies:
            self._predict_proba(images)
        return self._map_batches(self._predict_proba, images, "classify")

    def _map_batches(self, function: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, desc: str):
        outputs = []
        starts = range(0, images.shape[0], self.batch_size)
        for start in tqdm(starts, desc=f"{desc} ({self.kind})", disable=not self.progress, leave=False):
            batch = images[start : start + self.batch_size].to(self.device)
            outputs.append(function(batch).float().cpu())
        return torch.cat(outputs)


class StudyBackend(EmbeddingBackend):
    """The in-project contributor classifier at the study's resolution.

    `predict_proba` returns p(contributor | image) [N, K] with K the number
    of contributors; `features` the penultimate activations.
    """

    kind = "study"

    def __init__(self, classifier: ContributorClassifier, settings: ClassifierSettings, **kwargs):
        super().__init__(device=classifier.device, **kwargs)
        self.classifier = classifier
        self.classifier_settings = settings

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "network": "ContributorCNN",
            "digest": self.classifier.digest,
            "classifier": self.classifier_settings.to_dict(),
            "resolution": self.classifier.resolution,
        }

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.network.features(self._to_input(images))

    def _predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier.network(self._to_input(images))
        return torch.softmax(logits.double(), dim=1)

    def _to_input(self, images: torch.Tensor) -> torch.Tensor:
        expected = (self.classifier.channels, self.classifier.resolution, self.classifier.resolution)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"The study classifier works at the study's format [N, {expected[0]}, {expected[1]}, {expected[2]}], "
                f"got images of shape {tuple(images.shape)}; generate at data.resolution={expected[1]} "
                f"with data.channels={expected[0]}."
            )
        return uint8_to_unit(images) * 2 - 1


class InceptionBackend(EmbeddingBackend):
    """The FID Inception-v3: 2048-d pool features and 1008-way ImageNet probabilities.

    Images are upsampled bilinearly to `input_size` and scaled to [-1, 1];
    grayscale images are repeated to 3 channels. Probabilities use the
    logits without the final bias (`pool @ fc.weight.T`), as the original
    TensorFlow Inception Score code and torch-fidelity's `logits_unbiased` do.
    """

    kind = "inception"

    def __init__(self, network: nn.Module, *, weights: str, input_size: int = 299, **kwargs):
        super().__init__(**kwargs)
        self.network = network.to(self.device).eval()
        self.weights = weights
        self.input_size = input_size
        self.digest = module_digest(network)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "network": "FIDInceptionV3",
            "weights": self.weights,
            "digest": self.digest,
            "input_size": self.input_size,
            "logits": "unbiased",
        }

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        inputs = resize_rgb(images, self.input_size, mode="bilinear") * 2 - 1
        return self.network(inputs)

    def _predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        logits = self._features(images).double() @ self.network.fc.weight.double().T
        return torch.softmax(logits, dim=1)


def resize_rgb(images: torch.Tensor, size: int, *, mode: str) -> torch.Tensor:
    """Convert uint8 [N, C, H, W] to float32 RGB [N, 3, size, size] in [0, 1]."""
    pixels = uint8_to_unit(images)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    if tuple(pixels.shape[2:]) != (size, size):
        antialias = mode in ("bilinear", "bicubic") and min(pixels.shape[2:]) > size
        pixels = F.interpolate(pixels, size=(size, size), mode=mode, align_corners=False, antialias=antialias)
    return pixels.clamp(0, 1)


def module_digest(module: nn.Module, length: int = 16) -> str:
    """Return a sha256 hex digest of a module's state dict (names, dtypes, shapes and values)."""
    hasher = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        hasher.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        hasher.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()[:length]


def classifier_settings(config: PropertyConfig) -> ClassifierSettings:
    """Return the study classifier's recipe from the property config."""
    return ClassifierSettings(
        steps=config.classifier_steps,
        seed=config.classifier_seed,
        learning_rate=config.classifier_learning_rate,
        holdout_fraction=config.classifier_holdout,
    )


def build_backend(
    config: PropertyConfig,
    *,
    dataset: Any,
    device: str | torch.device = "cpu",
    cache_dir: str | Path = ".cache/diffusion-credit",
    progress: bool = True,
) -> EmbeddingBackend:
    """Build the backend that `config.backend` names.

    The `study` backend trains the contributor classifier on `dataset`, or
    loads it from the cache. The `inception`, `clip` and `blip` backends load
    pretrained weights from `config.weights` (a local path or hub id), or
    from their default source when it is empty.

    Raises:
        ValueError: `config.backend` is unknown.
    """
    options = {"device": device, "batch_size": config.batch_size, "progress": progress}
    if config.backend == "study":
        settings = classifier_settings(config)
        classifier = load_or_train_classifier(dataset, settings, cache_dir=cache_dir, device=device, progress=progress)
        return StudyBackend(classifier, settings, batch_size=config.batch_size, progress=progress)
    if config.backend == "inception":
        network = load_fid_inception(config.weights, cache_dir=cache_dir, progress=progress)
        return InceptionBackend(network, weights=config.weights or FID_WEIGHTS_URL, **options)
    if config.backend == "clip":
        from diffusion_credit.properties.pretrained import ClipBackend, load_clip_vision

        model, source = load_clip_vision(config.weights, cache_dir=cache_dir)
        return ClipBackend(model, weights=source, **options)
    if config.backend == "blip":
        from diffusion_credit.properties.pretrained import BlipBackend, load_blip_vision

        model, source = load_blip_vision(config.weights, cache_dir=cache_dir)
        return BlipBackend(model, weights=source, **options)
    raise ValueError(f"property.backend={config.backend!r} is not one of study, inception, clip, blip.")
