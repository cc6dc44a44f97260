"""Conversion of training and generated images to the model's value range."""

from __future__ import annotations

import torch

__all__ = ["to_model_range"]


def to_model_range(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Return images as float32 [N, C, H, W] in [-1, 1].

    Args:
        images: uint8 [N, C, H, W] in [0, 255] (as generation returns them)
            or float [N, C, H, W] already in [-1, 1] (as training data is).
        name: what the images are, for error messages.

    Raises:
        ValueError: on a wrong rank, an unsupported dtype or float values
            outside [-1, 1].
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor [N, C, H, W], got {type(images).__name__}.")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got {list(images.shape)}.")
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise ValueError(f"{name} must be uint8 in [0, 255] or float in [-1, 1], got dtype {images.dtype}.")

    if images.numel() and (images.min() < -1.0 - 1e-4 or images.max() > 1.0 + 1e-4):
        raise ValueError(
            f"{name} are float with values in [{images.min().item():.3f}, {images.max().item():.3f}], "
            "outside [-1, 1]; pass uint8 images or scale floats to [-1, 1]."
        )
    return images.float()
