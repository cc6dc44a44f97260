"""TRAK-family scores from projected gradient features.

With `Φ` the [N, k] training features and `Φ_gen` the [M, k] generated
features, TRAK scores are `Φ_gen (ΦᵀΦ + λI)⁻¹ Φᵀ`, an [M, N] matrix. `ΦᵀΦ` is
[k, k]; when `k > N` it has rank at most `N` and is singular at `λ = 0`.
`RidgeKernel` works from the thin SVD `Φ = U diag(σ) Vᵀ`, which gives

    (ΦᵀΦ + λI)⁻¹ Φᵀ = V diag(σ / (σ² + λ)) Uᵀ

whichever of `k` and `N` is smaller, and lets every `λ` of a grid reuse one
decomposition.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["RidgeKernel", "SingularKernelError", "cosine_scores", "divide_columns"]

# At λ = 0, σ_min / σ_max below this counts as singular: the condition number
# of ΦᵀΦ would exceed 1e12, past what float32 features can support.
SINGULAR_RATIO = 1e-6


class SingularKernelError(ValueError):
    """`ΦᵀΦ + λI` cannot be inverted; the message names k, N and λ and the fix."""


class RidgeKernel:
    """The regularised inverse `(ΦᵀΦ + λI)⁻¹` applied through a thin SVD of `Φ`.

    Args:
        train_features: float [N, k], row `j` the feature `φ(x_j)`.
    """

    def __init__(self, train_features: torch.Tensor | np.ndarray) -> None:
        features = torch.as_tensor(train_features, dtype=torch.float64)
        if features.ndim != 2 or features.shape[0] == 0:
            raise ValueError(f"train_features must have shape [N, k] with N > 0, got {list(features.shape)}.")
        if not torch.isfinite(features).all():
            raise ValueError("train_features contain NaN or infinite values; check the gradients.")
        self.num_train, self.dim = features.shape
        self.left, self.singular_values, right_t = torch.linalg.svd(features, full_matrices=False)
        self.right = right_t.T
        self.train_norms = features.norm(dim=1)

    def check(self, ridge_lambda: float) -> None:
        """Raise `SingularKernelError` when `ΦᵀΦ + λI` is singular."""
        if ridge_lambda < 0:
            raise ValueError(f"ridge_lambda must be >= 0, got {ridge_lambda}.")
        if ridge_lambda > 0:
            return
        fix = "set ridge_lambda > 0 or lower projection_dim"
        if self.dim > self.num_train:
            raise SingularKernelError(
                f"ΦᵀΦ is singular: projection dimension k={self.dim} exceeds the N={self.num_train} training "
                f"examples and λ={ridge_lambda}; {fix} to at most {self.num_train}."
            )
        largest = float(self.singular_values.max())
        smallest = float(self.singular_values.min())
        if largest == 0 or smallest < SINGULAR_RATIO * largest:
            raise SingularKernelError(
                f"ΦᵀΦ is numerically singular (σ_min/σ_max={smallest / largest if largest else 0:.2e}) with "
                f"k={self.dim}, N={self.num_train} and λ={ridge_lambda}; {fix}."
            )

    def scores(self, generated_features: torch.Tensor | np.ndarray, ridge_lambda: float) -> np.ndarray:
        """Return TRAK scores `Φ_gen (ΦᵀΦ + λI)⁻¹ Φᵀ` as float64 [M, N].

        Args:
            generated_features: float [M, k].
            ridge_lambda: `λ >= 0`.
        """
        self.check(ridge_lambda)
        generated = self._as_features(generated_features)
        weights = self.singular_values / (self.singular_values.square() + ridge_lambda)
        return ((generated @ self.right) * weights @ self.left.T).numpy()

    def inverse_norms(self, ridge_lambda: float) -> np.ndarray:
        """Return `‖(ΦᵀΦ + λI)⁻¹ φ(x_j)‖` for every training example, float64 [N]."""
        self.check(ridge_lambda)
        weights = self.singular_values / (self.singular_values.square() + ridge_lambda)
        return (self.left * weights).norm(dim=1).numpy()

    def _as_features(self, features: torch.Tensor | np.ndarray) -> torch.Tensor:
        features = torch.as_tensor(features, dtype=torch.float64)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"generated features must have shape [M, {self.dim}], got {list(features.shape)}.")
        return features


def cosine_scores(generated_features: torch.Tensor, train_features: torch.Tensor) -> np.ndarray:
    """Return gradient-similarity scores, the cosine of every generated and training feature, float64 [M, N]."""
    generated = torch.nn.functional.normalize(torch.as_tensor(generated_features, dtype=torch.float64), dim=1)
    train = torch.nn.functional.normalize(torch.as_tensor(train_features, dtype=torch.float64), dim=1)
    return (generated @ train.T).numpy()


def divide_columns(scores: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Divide score column `j` by `norms[j]`; a zero norm gives a zero column."""
    safe = np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, scores / safe, 0.0)
