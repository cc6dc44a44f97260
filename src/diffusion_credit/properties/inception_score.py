"""The Inception Score, `IS = exp(E_x KL(p(y | x) || p(y)))`.

`p(y | x)` comes from a classifying backend: the study's contributor
classifier (`study`, K = number of contributors) or the FID Inception-v3
(`inception`, K = 1008 ImageNet classes). Scores from different backends
are not comparable; the backend and its weights digest are in `settings`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import rel_entr

from diffusion_credit.config import PropertyConfig
from diffusion_credit.properties.backends import EmbeddingBackend, build_backend
from diffusion_credit.properties.base import GlobalProperty, PropertyResult, check_positive_int, register_property

__all__ = ["InceptionScore", "inception_score", "inception_score_splits", "kl_to_marginal"]

CLASSIFYING_BACKENDS = ("study", "inception")


def kl_to_marginal(probs: np.ndarray) -> np.ndarray:
    """Return KL(p(y | x_i) || p(y)) for each row, with p(y) the mean row.

    Terms with p(y | x_i) = 0 contribute 0 (0 · log 0 = 0).

    Args:
        probs: float [N, K], non-negative rows that sum to 1.

    Returns:
        float64 [N], in nats.
    """
    probs = _check_probs(probs)
    marginal = probs.mean(axis=0, keepdims=True)
    return rel_entr(probs, marginal).sum(axis=1)


def inception_score_splits(probs: np.ndarray, splits: int = 1) -> np.ndarray:
    """Return the Inception Score of each of `splits` contiguous chunks of the rows.

    Chunks are `np.array_split(probs, splits)`, so their sizes differ by at
    most one; the marginal p(y) is taken within each chunk.

    Args:
        probs: float [N, K] class probabilities, rows sum to 1.
        splits: number of chunks, 1 <= splits <= N.

    Returns:
        float64 [splits], each exp(mean KL) of its chunk.
    """
    probs = _check_probs(probs)
    check_positive_int("splits", splits)
    if splits > probs.shape[0]:
        raise ValueError(f"splits={splits} exceeds the number of images {probs.shape[0]}; use at most one split per image.")
    return np.array([np.exp(kl_to_marginal(chunk).mean()) for chunk in np.array_split(probs, splits)])


def inception_score(probs: np.ndarray, splits: int = 1) -> float:
    """Return the Inception Score, the mean over splits of exp(E_x KL(p(y | x) || p(y))).

    It is K for N = K images whose one-hot predictions cover K different
    classes, and 1 when every image has the same prediction.

    Args:
        probs: float [N, K] class probabilities, rows sum to 1.
        splits: number of contiguous chunks to average over.
    """
    return float(inception_score_splits(probs, splits).mean())


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"Class probabilities must have shape [N, K] with N, K >= 1, got {probs.shape}.")
    if not np.isfinite(probs).all():
        raise ValueError("Class probabilities contain NaN or infinite values.")
    if (probs < 0).any():
        raise ValueError(f"Class probabilities must be non-negative, got a minimum of {probs.min():.3g}.")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        worst = sums[np.argmax(np.abs(sums - 1))]
        raise ValueError(f"Class probability rows must sum to 1, got a row summing to {worst:.6g}; apply softmax first.")
    return probs


@register_property("inception_score")
class InceptionScore(GlobalProperty):
    """The Inception Score of generated images under a classifying backend.

    `per_image` contains each image's KL(p(y | x) || p(y)) in nats, with p(y)
    the marginal of its split.
    """

    def __init__(self, backend: EmbeddingBackend, *, splits: int = 1):
        if not backend.classifies:
            raise ValueError(
                f"The Inception Score needs a classifying backend ({', '.join(CLASSIFYING_BACKENDS)}), "
                f"got {backend.kind!r}; set property.backend accordingly."
            )
        check_positive_int("property.splits", splits)
        self.backend = backend
        self.splits = splits

    @classmethod
    def from_config(cls, config: PropertyConfig, *, dataset, device="cpu", cache_dir=".cache/diffusion-credit", progress=True):
        if config.backend not in CLASSIFYING_BACKENDS:
            raise ValueError(
                f"property.backend={config.backend!r} cannot compute the Inception Score; "
                f"use one of {', '.join(CLASSIFYING_BACKENDS)}."
            )
        backend = build_backend(config, dataset=dataset, device=device, cache_dir=cache_dir, progress=progress)
        return cls(backend, splits=config.splits)

    @property
    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "splits": self.splits, "log_base": "e", **self.backend.settings}

    def compute(self, images: torch.Tensor) -> PropertyResult:
        probs = self.backend.predict_proba(images).double().numpy()
        per_split = inception_score_splits(probs, self.splits)
        per_image = np.concatenate([kl_to_marginal(chunk) for chunk in np.array_split(probs, self.splits)])
        return PropertyResult(float(per_split.mean()), per_image, self.settings)
