"""Fréchet distance between feature sets, as a diagnostic of generated images.

`FID = ||μ_a − μ_b||² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})` over the
Gaussian fits of two embedding sets. With the `inception` backend this is
the usual FID; with `study`, `clip` or `blip` it is the same distance in that
network's feature space, which is not comparable with published FIDs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from diffusion_credit.properties.backends import EmbeddingBackend
from diffusion_credit.properties.base import check_images

__all__ = ["frechet_distance", "training_fid"]


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fit to two feature sets.

    Args:
        features_a: float [N_a, D], N_a >= 2.
        features_b: float [N_b, D], N_b >= 2. Fewer rows than dimensions
            are allowed: the covariances are then singular, which the trace
            term below handles.

    Raises:
        ValueError: different dimensions, fewer than two rows, or non-finite values.
    """
    a = _check_features(features_a, "features_a")
    b = _check_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature sets must have the same dimension, got {a.shape[1]} and {b.shape[1]}.")

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a = np.atleast_2d(np.cov(a, rowvar=False))
    sigma_b = np.atleast_2d(np.cov(b, rowvar=False))

    distance = ((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * _trace_sqrt_product(sigma_a, sigma_b)
    return float(max(distance, 0.0))


def _trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """Return Tr((Σ_a Σ_b)^{1/2}) for two covariance matrices.

    Σ_a Σ_b is similar to the symmetric PSD matrix Σ_a^{1/2} Σ_b Σ_a^{1/2},
    so the trace is the sum of the square roots of that matrix's eigenvalues.
    Symmetric eigendecompositions stay exact when the covariances are
    singular (fewer images than feature dimensions), where `scipy.linalg.sqrtm`
    of the product warns and loses precision.
    """
    values, vectors = np.linalg.eigh(sigma_a)
    root_a = (vectors * np.sqrt(_drop_rounding(values))) @ vectors.T
    middle = root_a @ sigma_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(_drop_rounding(eigenvalues)).sum())


def _drop_rounding(eigenvalues: np.ndarray) -> np.ndarray:
    """Set the eigenvalues of a PSD matrix that are rounding error (below the usual rank tolerance) to 0."""
    tolerance = max(float(eigenvalues.max()), 0.0) * len(eigenvalues) * np.finfo(eigenvalues.dtype).eps
    return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


def training_fid(backend: EmbeddingBackend, images: torch.Tensor, dataset: Any) -> float:
    """Return the Fréchet distance between generated images and the study's training images.

    Args:
        backend: the feature network (e.g. a property's `.backend`).
        images: torch.uint8 [N, C, H, W] generated images, N >= 2.
        dataset: the study's dataset; `dataset.images` is float [M, C, H, W] in [-1, 1].
    """
    check_images(images)
    training = ((dataset.images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    generated_features = backend.features(images).double().numpy()
    training_features = backend.features(training).double().numpy()
    return frechet_distance(generated_features, training_features)


def _check_features(features: Any, name: str) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"{name} must have shape [N, D] with N >= 2 for a covariance, got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array
