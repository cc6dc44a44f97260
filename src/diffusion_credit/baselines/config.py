"""Settings of the attribution baselines that Shapley credit is compared with."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BaselinesConfig", "METHODS"]

METHODS = (
    "pixel_similarity",
    "pixel_similarity_mean",
    "pixel_similarity_max",
    "embedding_similarity",
    "embedding_similarity_mean",
    "embedding_similarity_max",
    "trak",
    "d_trak",
    "journey_trak",
    "relative_influence",
    "renormalized_influence",
    "gradient_similarity",
)


@dataclass
class BaselinesConfig:
    """Settings of the similarity and TRAK-family baselines.

    Attributes:
        methods: baseline names run by `compute_baselines`, from `METHODS`;
            a `_mean` or `_max` suffix on a similarity method overrides
            `aggregate`.
        timesteps: diffusion timesteps the gradient features average over.
            An int `K` takes `K` timesteps evenly spaced over
            `[0, num_train_timesteps - 1]`; a list gives them explicitly.
        projection_dim: `k`, the dimension of the random projection of the
            gradients (1,024 to 32,768 in published work).
        projection_type: `rademacher` (entries ±1/√k) or `gaussian`
            (entries N(0, 1/k)).
        chunk_size: parameter rows of the projection matrix generated at a
            time; memory for the projection is `chunk_size × k` floats.
        batch_size: examples per vectorised per-sample-gradient call.
        projection_batch_size: examples whose gradients are projected
            together. Generating the projection matrix is the main cost, so
            larger blocks are faster. They take `projection_batch_size × P`
            floats of gradient memory.
        timestep_batch_size: timesteps evaluated in one UNet call per example.
        ridge_lambda: `λ` in `(ΦᵀΦ + λI)⁻¹` when no λ is selected on held-out
            coalitions.
        lambda_grid: candidate values of `λ` for `select_ridge_lambda`.
        seed: seed of the projection and of the diffusion noises.
        embedding: which embedding `embedding_similarity` uses, e.g. `clip`
            or `study` (the in-project classifier); the caller maps the name
            to a `features` callable.
        aggregate: `mean` or `max` over a contributor's images for the
            similarity baselines.
        num_generated: generated images used (the first ones); `None` uses
            all that are passed.
        journey_steps: DDIM steps of the generation trajectory that
            Journey-TRAK records and averages over.
    """

    methods: list[str] = field(default_factory=lambda: ["pixel_similarity", "trak", "d_trak"])
    timesteps: int | list[int] = 10
    projection_dim: int = 1024
    projection_type: str = "rademacher"
    chunk_size: int = 32768
    batch_size: int = 16
    projection_batch_size: int = 64
    timestep_batch_size: int = 4
    ridge_lambda: float = 0.5
    lambda_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 0.5, 1.0, 10.0])
    seed: int = 0
    embedding: str = "study"
    aggregate: str = "mean"
    num_generated: int | None = None
    journey_steps: int = 25

    def validate(self, prefix: str = "baselines") -> "BaselinesConfig":
        """Check every field; raise `ValueError` naming the key and the fix."""
        for name in self.methods:
            if name not in METHODS:
                raise ValueError(f"{prefix}.methods contains {name!r}, which is not one of {', '.join(METHODS)}.")
        _check_timesteps(f"{prefix}.timesteps", self.timesteps)
        for key in (
            "projection_dim",
            "chunk_size",
            "batch_size",
            "projection_batch_size",
            "timestep_batch_size",
            "journey_steps",
        ):
            _check_positive(f"{prefix}.{key}", getattr(self, key))
        if self.num_generated is not None:
            _check_positive(f"{prefix}.num_generated", self.num_generated)
        if self.projection_type not in ("rademacher", "gaussian"):
            raise ValueError(f"{prefix}.projection_type={self.projection_type!r} is not one of rademacher, gaussian.")
        if self.aggregate not in ("mean", "max"):
            raise ValueError(f"{prefix}.aggregate={self.aggregate!r} is not one of mean, max.")
        if self.ridge_lambda < 0:
            raise ValueError(f"{prefix}.ridge_lambda must be >= 0, got {self.ridge_lambda}.")
        if not self.lambda_grid or min(self.lambda_grid) < 0:
            raise ValueError(f"{prefix}.lambda_grid must be a non-empty list of values >= 0, got {self.lambda_grid}.")
        return self


def _check_positive(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{key} must be a positive integer, got {value!r}.")


def _check_timesteps(key: str, value: int | list[int]) -> None:
    if isinstance(value, int):
        _check_positive(key, value)
        return
    if not value or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in value):
        raise ValueError(f"{key} must be a positive count or a non-empty list of timesteps >= 0, got {value!r}.")
