"""Similarity baselines: cosine between training and generated images.

A training image scores high when it looks like the generated images, in raw
pixels or in an embedding (CLIP, or the in-project classifier's features).
A contributor's score pools its images' cosines by mean or max and averages
the result over generated images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .aggregation import check_labels, pool_per_contributor
from .images import to_model_range

__all__ = ["cosine_matrix", "pixel_similarity", "embedding_similarity", "embed"]

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def cosine_matrix(generated: torch.Tensor, train: torch.Tensor) -> np.ndarray:
    """Cosine similarity of every generated row with every training row.

    Args:
        generated: float [M, D].
        train: float [N, D].

    Returns:
        float64 [M, N]; a zero row has cosine 0 with everything.
    """
    generated = torch.nn.functional.normalize(generated.double(), dim=1)
    train = torch.nn.functional.normalize(train.double(), dim=1)
    return (generated @ train.T).cpu().numpy()


def pixel_similarity(
    train_images: torch.Tensor,
    train_labels: torch.Tensor | np.ndarray,
    generated_images: torch.Tensor,
    *,
    aggregate: str = "mean",
    num_contributors: int | None = None,
) -> np.ndarray:
    """Score contributors by raw-pixel cosine similarity with the generated images.

    Args:
        train_images: float [N, C, H, W] in [-1, 1].
        train_labels: int [N], contributor index of each training image.
        generated_images: uint8 [M, C, H, W], or float in [-1, 1].
        aggregate: `mean` or `max` over a contributor's images.
        num_contributors: `n`; `None` takes `train_labels.max() + 1`.

    Returns:
        float64 [n], the per-contributor score.
    """
    train = to_model_range(train_images, "train_images")
    generated = to_model_range(generated_images, "generated_images")
    _check_same_shape(train, generated)
    labels, n = check_labels(train_labels, train.shape[0], num_contributors)

    cosines = cosine_matrix(generated.flatten(1), train.flatten(1))
    return pool_per_contributor(cosines, labels, n, aggregate)


def embedding_similarity(
    train_images: torch.Tensor,
    train_labels: torch.Tensor | np.ndarray,
    generated_images: torch.Tensor,
    features: FeatureFn,
    *,
    aggregate: str = "mean",
    num_contributors: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Score contributors by embedding cosine similarity with the generated images.

    Args:
        train_images: float [N, C, H, W] in [-1, 1].
        train_labels: int [N], contributor index of each training image.
        generated_images: uint8 [M, C, H, W], or float in [-1, 1].
        features: maps float32 [B, C, H, W] images in [-1, 1] to embeddings
            [B, D]; it resizes or normalises as its network needs.
        aggregate: `mean` or `max` over a contributor's images.
        num_contributors: `n`; `None` takes `train_labels.max() + 1`.
        batch_size: images per `features` call.

    Returns:
        float64 [n], the per-contributor score.
    """
    train = to_model_range(train_images, "train_images")
    generated = to_model_range(generated_images, "generated_images")
    labels, n = check_labels(train_labels, train.shape[0], num_contributors)

    cosines = cosine_matrix(embed(features, generated, batch_size), embed(features, train, batch_size))
    return pool_per_contributor(cosines, labels, n, aggregate)


def embed(features: FeatureFn, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Run `features` over `images` in batches without gradients; return float [N, D]."""
    outputs = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size]
            output = features(batch)
            if output.ndim != 2 or output.shape[0] != batch.shape[0]:
                raise ValueError(
                    f"features must return shape [{batch.shape[0]}, D] for a batch of {batch.shape[0]} images, "
                    f"got {list(output.shape)}."
                )
            outputs.append(output.detach().float().cpu())
    return torch.cat(outputs)


def _check_same_shape(train: torch.Tensor, generated: torch.Tensor) -> None:
    if train.shape[1:] != generated.shape[1:]:
        raise ValueError(
            f"Pixel similarity needs training and generated images of the same shape, got "
            f"{list(train.shape[1:])} and {list(generated.shape[1:])}."
        )
