"""Pretrained Hugging Face image encoders: CLIP and BLIP-VQA vision towers.

Both load through transformers' `from_pretrained`, from a local folder or a
hub id. Preprocessing follows their image processors for square images. The
image is resized to the model's `image_size` (bicubic) and normalised with
the OpenAI CLIP mean and standard deviation, which BLIP uses too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from diffusion_credit.properties.backends import EmbeddingBackend, module_digest, resize_rgb

__all__ = [
    "DEFAULT_CLIP",
    "DEFAULT_BLIP",
    "ClipBackend",
    "BlipBackend",
    "load_clip_vision",
    "load_blip_vision",
]

logger = logging.getLogger(__name__)

DEFAULT_CLIP = "openai/clip-vit-large-patch14"
DEFAULT_BLIP = "Salesforce/blip-vqa-base"

# OpenAI CLIP's image normalisation, used by CLIPImageProcessor and BlipImageProcessor.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class _HuggingFaceVisionBackend(EmbeddingBackend):
    """Shared preprocessing and identity of a transformers vision encoder."""

    def __init__(self, model: nn.Module, *, weights: str, **kwargs):
        super().__init__(**kwargs)
        self.model = model.to(self.device).eval()
        self.weights = weights
        self.image_size = int(model.config.image_size)
        self.digest = module_digest(model)
        self._mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "network": type(self.model).__name__,
            "weights": self.weights,
            "digest": self.digest,
            "input_size": self.image_size,
        }

    def _pixel_values(self, images: torch.Tensor) -> torch.Tensor:
        pixels = resize_rgb(images, self.image_size, mode="bicubic")
        dtype = next(self.model.parameters()).dtype
        return ((pixels - self._mean) / self._std).to(dtype)


class ClipBackend(_HuggingFaceVisionBackend):
    """CLIP image embeddings (`image_embeds` after the visual projection), not normalised."""

    kind = "clip"

    @property
    def embedding_dim(self) -> int:
        """Dimension D of `image_embeds`, the CLIP projection size."""
        return int(self.model.config.projection_dim)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=self._pixel_values(images)).image_embeds


class BlipBackend(_HuggingFaceVisionBackend):
    """BLIP vision-encoder embeddings: the pooled [CLS] token after the last layer norm."""

    kind = "blip"

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=self._pixel_values(images)).pooler_output


def load_clip_vision(weights: str | None = None, *, cache_dir: str | Path = ".cache/diffusion-credit"):
    """Load a CLIP vision tower with its projection.

    Args:
        weights: a local folder or hub id of a `CLIPModel` or
            `CLIPVisionModelWithProjection` checkpoint; None for ViT-L/14
            (`openai/clip-vit-large-patch14`).
        cache_dir: root cache folder; hub downloads go to `<cache_dir>/hub`.

    Returns:
        `(model, source)`: a `CLIPVisionModelWithProjection` in eval mode and
        the weights source it came from.

    Raises:
        OSError: the weights cannot be found locally or downloaded.
    """
    from transformers import CLIPVisionModelWithProjection

    source = weights or DEFAULT_CLIP
    model = _from_pretrained(CLIPVisionModelWithProjection, source, cache_dir, "CLIP")
    return model.eval(), source


def load_blip_vision(weights: str | None = None, *, cache_dir: str | Path = ".cache/diffusion-credit"):
    """Load the vision encoder of a BLIP (VQA) checkpoint.

    Args:
        weights: a local folder or hub id of a `BlipForQuestionAnswering`
            (or other full BLIP) checkpoint, or of a bare `BlipVisionModel`;
            None for `Salesforce/blip-vqa-base`.
        cache_dir: root cache folder; hub downloads go to `<cache_dir>/hub`.

    Returns:
        `(model, source)`: a `BlipVisionModel` in eval mode and the weights
        source it came from.

    Raises:
        OSError: the weights cannot be found locally or downloaded.
    """
    from transformers import AutoConfig, BlipForQuestionAnswering, BlipVisionModel

    source = weights or DEFAULT_BLIP
    hub_cache = str(Path(cache_dir) / "hub")
    try:
        config = AutoConfig.from_pretrained(source, cache_dir=hub_cache)
    except OSError as error:
        raise OSError(_load_failure("BLIP", source, error)) from error

    if config.model_type == "blip_vision_model":
        model = _from_pretrained(BlipVisionModel, source, cache_dir, "BLIP")
    else:
        model = _from_pretrained(BlipForQuestionAnswering, source, cache_dir, "BLIP").vision_model
    return model.eval(), source


def _from_pretrained(cls, source: str, cache_dir: str | Path, label: str):
    try:
        model = cls.from_pretrained(source, cache_dir=str(Path(cache_dir) / "hub"))
    except OSError as error:
        raise OSError(_load_failure(label, source, error)) from error
    logger.info("Loaded %s weights %s as %s", label, source, cls.__name__)
    return model


def _load_failure(label: str, source: str, error: Exception) -> str:
    return (
        f"Could not load {label} weights from {source!r} ({error}). Pass property.weights as a local folder "
        "written by save_pretrained, or a hub id on a machine that can download it."
    )
