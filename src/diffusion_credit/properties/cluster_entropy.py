"""Cluster entropy: how evenly generated images spread over reference clusters.

The reference clusters are fit once per study with Ward linkage on the
embeddings of the full model's samples. Each generated image is assigned to
the nearest cluster centroid (Euclidean), and the property is the entropy of
the resulting cluster frequencies in nats: log K when K clusters are equally
used, 0 when all images fall into one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from scipy.spatial.distance import cdist
from sklearn.cluster import AgglomerativeClustering

from diffusion_credit.config import PropertyConfig, digest
from diffusion_credit.properties.backends import EmbeddingBackend, build_backend
from diffusion_credit.properties.base import (
    GlobalProperty,
    PropertyResult,
    check_images,
    check_positive_int,
    register_property,
)

__all__ = ["ClusterEntropy", "ReferenceClusters", "fit_ward_clusters", "entropy"]

logger = logging.getLogger(__name__)


def entropy(labels: np.ndarray, num_clusters: int) -> float:
    """Return the entropy in nats of the cluster frequencies of `labels`.

    Args:
        labels: int [N] cluster indices in [0, num_clusters).
        num_clusters: K; empty clusters contribute 0 (0 · log 0 = 0).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"Cluster labels must be a non-empty 1-D array, got shape {labels.shape}.")
    if labels.min() < 0 or labels.max() >= num_clusters:
        raise ValueError(f"Cluster labels must be in [0, {num_clusters}), got values in [{labels.min()}, {labels.max()}].")
    frequencies = np.bincount(labels, minlength=num_clusters) / labels.size
    used = frequencies[frequencies > 0]
    return float(-(used * np.log(used)).sum()) + 0.0


@dataclass
class ReferenceClusters:
    """Ward reference clusters as centroids.

    Attributes:
        centroids: float64 [K, D], the mean embedding of each cluster.
        digest: identity of the fit (reference images, backend, K).
    """

    centroids: np.ndarray
    digest: str

    def assign(self, features: np.ndarray) -> np.ndarray:
        """Return the index of the nearest centroid of each row, int64 [N]."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.centroids.shape[1]:
            raise ValueError(
                f"Features must have shape [N, {self.centroids.shape[1]}] like the reference clusters, "
                f"got {features.shape}."
            )
        # cdist subtracts before squaring, so nearby centroids far from the origin stay distinguishable.
        return cdist(features, self.centroids, "sqeuclidean").argmin(axis=1).astype(np.int64)


def fit_ward_clusters(features: np.ndarray, num_clusters: int, *, digest: str = "") -> ReferenceClusters:
    """Cluster `features` [N, D] with Ward linkage into `num_clusters` clusters and return their centroids.

    Raises:
        ValueError: fewer rows than clusters, or non-finite features.
    """
    features = np.asarray(features, dtype=np.float64)
    check_positive_int("num_clusters", num_clusters)
    if features.ndim != 2 or features.shape[0] < num_clusters:
        raise ValueError(
            f"Ward clustering into {num_clusters} clusters needs at least {num_clusters} reference embeddings, "
            f"got shape {features.shape}; generate more reference images or lower property.num_clusters."
        )
    if not np.isfinite(features).all():
        raise ValueError("Reference embeddings contain NaN or infinite values.")

    labels = AgglomerativeClustering(n_clusters=num_clusters, linkage="ward").fit_predict(features)
    centroids = np.stack([features[labels == k].mean(axis=0) for k in range(num_clusters)])
    return ReferenceClusters(centroids, digest)


@register_property("cluster_entropy")
class ClusterEntropy(GlobalProperty):
    """Entropy of the nearest-reference-cluster frequencies of generated images.

    Call `fit_reference` with the full model's samples once before measuring;
    the fit is cached under `<cache_dir>/reference-clusters/`. `per_image`
    contains each image's cluster index.
    """

    def __init__(self, backend: EmbeddingBackend, *, num_clusters: int = 20, cache_dir: str | Path = ".cache/diffusion-credit"):
        check_positive_int("property.num_clusters", num_clusters)
        if num_clusters < 2:
            raise ValueError("property.num_clusters must be at least 2 for a cluster entropy, got 1.")
        self.backend = backend
        self.num_clusters = num_clusters
        self.cache_dir = Path(cache_dir)
        self.reference: ReferenceClusters | None = None

    @classmethod
    def from_config(cls, config: PropertyConfig, *, dataset, device="cpu", cache_dir=".cache/diffusion-credit", progress=True):
        backend = build_backend(config, dataset=dataset, device=device, cache_dir=cache_dir, progress=progress)
        return cls(backend, num_clusters=config.num_clusters, cache_dir=cache_dir)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_clusters": self.num_clusters,
            "linkage": "ward",
            "assignment": "nearest_centroid",
            "log_base": "e",
            "reference": self.reference.digest if self.reference is not None else None,
            **self.backend.settings,
        }

    def fit_reference(self, images: torch.Tensor) -> ReferenceClusters:
        """Fit the Ward reference clusters on the full model's samples, or load the cached fit.

        Args:
            images: torch.uint8 [N, C, H, W] generated by the full model, N >= num_clusters.

        Returns:
            The reference clusters, also stored on the property.
        """
        check_images(images, what="reference images")
        images_digest = hashlib.sha256(images.cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
        key = digest(images_digest, list(images.shape), self.backend.settings, self.num_clusters, "ward")
        path = self.cache_dir / "reference-clusters" / f"{key}.safetensors"

        if path.is_file():
            self.reference = ReferenceClusters(load_file(path)["centroids"], key)
            logger.info("Loaded reference clusters %s from %s", key, path)
            return self.reference

        features = self.backend.features(images).double().numpy()
        self.reference = fit_ward_clusters(features, self.num_clusters, digest=key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(prefix=f".{key}-", suffix=".safetensors", dir=path.parent)
        os.close(handle)
        save_file({"centroids": self.reference.centroids}, staging)
        os.replace(staging, path)
        logger.info("Fit %d Ward reference clusters on %d images; cached at %s", self.num_clusters, len(images), path)
        return self.reference

    def compute(self, images: torch.Tensor) -> PropertyResult:
        if self.reference is None:
            raise RuntimeError(
                "The cluster entropy has no reference clusters; call fit_reference(images) with the full "
                "model's samples first."
            )
        labels = self.reference.assign(self.backend.features(images).double().numpy())
        value = entropy(labels, self.num_clusters)
        return PropertyResult(value, labels.astype(np.float64), self.settings)
