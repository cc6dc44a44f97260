"""One function per baseline, each returning a per-contributor score vector, and `compute_baselines`.

Every function takes the training images (float [N, C, H, W] in [-1, 1]) with
their contributor labels (int [N]) and returns float64 [n]. TRAK-family
scores are summed over a contributor's images and averaged over generated
images; gradients come from the given model `θ*`, usually the full model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .aggregation import check_labels, sum_per_contributor
from .config import METHODS, BaselinesConfig
from .features import GENERATED_STREAM, TRAIN_STREAM, gradient_features, trajectory_features
from .gradients import resolve_unet, sample_shape, to_training_space
from .images import to_model_range
from .journey import ddim_trajectory, initial_noises
from .ridge import select_ridge_lambda
from .scores import RidgeKernel, SingularKernelError, cosine_scores, divide_columns
from .similarity import embedding_similarity, pixel_similarity

__all__ = [
    "BaselineResults",
    "FeatureCache",
    "compute_baselines",
    "trak",
    "d_trak",
    "journey_trak",
    "relative_influence",
    "renormalized_influence",
    "gradient_similarity",
]

logger = logging.getLogger(__name__)

# Methods whose scores depend on the ridge λ, and so can have it selected.
RIDGE_METHODS = ("trak", "d_trak", "journey_trak", "relative_influence", "renormalized_influence")


class FeatureCache:
    """Projected gradient features of one model, computed once and shared by the TRAK-family methods.

    Args:
        model: a `DiffusionModel` or a `(UNet2DModel, DDPMScheduler)` pair.
        train_images: float [N, C, H, W] in [-1, 1].
        generated_images: uint8 [M, C, H, W] or float in [-1, 1]; `None`
            when only Journey-TRAK runs.
        config: baseline settings; `num_generated` keeps the first images.
        noises: float [M, C, H, W], the initial noises Journey-TRAK
            regenerates from; `None` draws them from `config.seed`.
        example_ids: int [N], stable ids keying the training noises.
        progress: show progress bars.
    """

    def __init__(
        self,
        model: object,
        train_images: torch.Tensor,
        generated_images: torch.Tensor | None,
        config: BaselinesConfig,
        *,
        noises: torch.Tensor | None = None,
        example_ids: np.ndarray | None = None,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.config = config.validate()
        self.train_images = to_model_range(train_images, "train_images")
        self.generated_images = None
        if generated_images is not None:
            self.generated_images = to_model_range(generated_images, "generated_images")[: config.num_generated]
        self.noises = noises
        self.example_ids = example_ids
        self.progress = progress
        self._features: dict[str, torch.Tensor] = {}
        self._kernels: dict[str, RidgeKernel] = {}

    def train(self, objective: str) -> torch.Tensor:
        """Return training features [N, k] for `diffusion` or `square`."""

        def compute() -> torch.Tensor:
            images = to_training_space(self.model, self.train_images)
            return gradient_features(
                self.model, images, objective=objective, config=self.config,
                example_ids=self.example_ids, stream=TRAIN_STREAM, progress=self.progress,
            )

        return self._cached(f"train/{objective}", compute)

    def generated(self, objective: str) -> torch.Tensor:
        """Return generated-image features [M, k] for `diffusion`, `square` or `journey`."""
        if objective == "journey":
            return self._cached("generated/journey", self._journey_features)
        if self.generated_images is None:
            raise ValueError(f"The {objective!r} features need generated_images; pass them.")

        def compute() -> torch.Tensor:
            images = to_training_space(self.model, self.generated_images)
            return gradient_features(
                self.model, images, objective=objective, config=self.config,
                stream=GENERATED_STREAM, progress=self.progress,
            )

        return self._cached(f"generated/{objective}", compute)

    def kernel(self, objective: str) -> RidgeKernel:
        """Return the ridge kernel of the training features for `objective`."""
        if objective not in self._kernels:
            self._kernels[objective] = RidgeKernel(self.train(objective))
        return self._kernels[objective]

    def _cached(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self._features:
            start = time.perf_counter()
            self._features[key] = compute()
            logger.info("Computed %s features in %.1f s.", key, time.perf_counter() - start)
        return self._features[key]

    def _journey_features(self) -> torch.Tensor:
        unet, scheduler = resolve_unet(self.model)
        noises = self.noises
        if noises is None:
            count = self.config.num_generated or (len(self.generated_images) if self.generated_images is not None else None)
            if count is None:
                raise ValueError("Journey-TRAK needs noises, generated_images or config.num_generated to know how many images to generate.")
            noises = initial_noises(count, sample_shape(self.model, self.train_images), self.config.seed)
        noises = noises[: self.config.num_generated]
        trajectory = ddim_trajectory(
            unet, scheduler, noises, num_inference_steps=self.config.journey_steps,
            batch_size=self.config.projection_batch_size, progress=self.progress,
        )
        return trajectory_features(self.model, trajectory, config=self.config, progress=self.progress)


def score_method(cache: FeatureCache, method: str, labels: np.ndarray, num_contributors: int, ridge_lambda: float) -> np.ndarray:
    """Compute one TRAK-family method's per-contributor scores from cached features, float64 [n]."""
    objective = "square" if method == "d_trak" else "diffusion"
    query = "journey" if method == "journey_trak" else objective

    if method == "gradient_similarity":
        scores = cosine_scores(cache.generated(query), cache.train(objective))
        return sum_per_contributor(scores, labels, num_contributors)

    kernel = cache.kernel(objective)
    scores = kernel.scores(cache.generated(query), ridge_lambda)
    if method == "relative_influence":
        scores = divide_columns(scores, kernel.inverse_norms(ridge_lambda))
    elif method == "renormalized_influence":
        scores = divide_columns(scores, kernel.train_norms.numpy())
    return sum_per_contributor(scores, labels, num_contributors)


@dataclass
class BaselineResults:
    """Per-contributor scores of several baselines.

    Attributes:
        scores: method name to float64 [n].
        ridge_lambdas: method name to the `λ` used, for ridge methods.
        seconds: method name to wall seconds, features included the first
            time a method needs them.
    """

    scores: dict[str, np.ndarray] = field(default_factory=dict)
    ridge_lambdas: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def compute_baselines(
    methods: list[str] | None,
    *,
    model: object | None,
    train_images: torch.Tensor,
    train_labels: torch.Tensor | np.ndarray,
    generated_images: torch.Tensor | None,
    config: BaselinesConfig | None = None,
    features: Callable[[torch.Tensor], torch.Tensor] | None = None,
    num_contributors: int | None = None,
    holdout: tuple[np.ndarray, np.ndarray] | None = None,
    noises: torch.Tensor | None = None,
    example_ids: np.ndarray | None = None,
    progress: bool = False,
) -> BaselineResults:
    """Run several baselines, sharing gradient features between them.

    Similarity methods may carry a `_mean` or `_max` suffix (e.g.
    `pixel_similarity_max`) that overrides `config.aggregate`.

    Args:
        methods: names from `METHODS`; `None` runs `config.methods`.
        model: a `DiffusionModel` or `(UNet2DModel, DDPMScheduler)` pair;
            needed by the gradient methods only.
        train_images: float [N, C, H, W] in [-1, 1].
        train_labels: int [N], contributor index of each training image.
        generated_images: uint8 [M, C, H, W] or float in [-1, 1].
        config: baseline settings; defaults to `BaselinesConfig()`.
        features: embedding callable for `embedding_similarity`, float32
            [B, C, H, W] in [-1, 1] to [B, D].
        num_contributors: `n`; `None` takes `train_labels.max() + 1`.
        holdout: `(coalitions bool [m, n], values float [m])` to select `λ`
            from `config.lambda_grid` for each ridge method; these must not
            be LDS evaluation coalitions. `None` uses `config.ridge_lambda`.
        noises: initial noises [M, C, H, W] for Journey-TRAK's regeneration.
        example_ids: int [N], stable ids keying the training noises.
        progress: show progress bars.

    Returns:
        The scores, the `λ` of each ridge method and the time each took.
    """
    config = (config or BaselinesConfig()).validate()
    methods = list(config.methods if methods is None else methods)
    train = to_model_range(train_images, "train_images")
    labels, n = check_labels(train_labels, train.shape[0], num_contributors)
    generated = None if generated_images is None else to_model_range(generated_images, "generated_images")[: config.num_generated]
    _check_ridge_feasible(methods, config, train.shape[0], holdout)
    cache = None if model is None else FeatureCache(
        model, train, generated, config, noises=noises, example_ids=example_ids, progress=progress
    )

    results = BaselineResults()
    for method in methods:
        start = time.perf_counter()
        base, aggregate = _split_aggregate(method, config.aggregate)
        if base == "pixel_similarity":
            scores = pixel_similarity(train, labels, _require(generated, method), aggregate=aggregate, num_contributors=n)
        elif base == "embedding_similarity":
            if features is None:
                raise ValueError("embedding_similarity needs a features callable (images -> [B, D]); pass features=.")
            scores = embedding_similarity(
                train, labels, _require(generated, method), features,
                aggregate=aggregate, num_contributors=n, batch_size=config.projection_batch_size,
            )
        else:
            if cache is None:
                raise ValueError(f"{method} needs the diffusion model; pass model=.")
            scores = _ridge_method(cache, method, labels, n, config, holdout, results)
        results.scores[method] = scores
        results.seconds[method] = time.perf_counter() - start
        logger.info("Baseline %s done in %.1f s.", method, results.seconds[method])
    return results


def _ridge_method(
    cache: FeatureCache,
    method: str,
    labels: np.ndarray,
    n: int,
    config: BaselinesConfig,
    holdout: tuple[np.ndarray, np.ndarray] | None,
    results: BaselineResults,
) -> np.ndarray:
    if method not in RIDGE_METHODS:
        return score_method(cache, method, labels, n, config.ridge_lambda)
    if holdout is None:
        results.ridge_lambdas[method] = config.ridge_lambda
        return score_method(cache, method, labels, n, config.ridge_lambda)

    coalitions, values = holdout
    selection = select_ridge_lambda(
        config.lambda_grid, coalitions, values, lambda value: score_method(cache, method, labels, n, value)
    )
    results.ridge_lambdas[method] = selection.ridge_lambda
    return selection.scores


def _check_ridge_feasible(methods: list[str], config: BaselinesConfig, num_train: int, holdout: object) -> None:
    """Fail before any gradient is computed when a ridge method would meet a singular `ΦᵀΦ`."""
    lambdas = config.lambda_grid if holdout is not None else [config.ridge_lambda]
    if any(method in RIDGE_METHODS for method in methods) and 0 in lambdas and config.projection_dim > num_train:
        raise SingularKernelError(
            f"ΦᵀΦ is singular: projection dimension k={config.projection_dim} exceeds the N={num_train} training "
            f"examples and λ=0; set ridge_lambda > 0 (and drop 0 from lambda_grid) or lower projection_dim "
            f"to at most {num_train}."
        )


def _split_aggregate(method: str, default: str) -> tuple[str, str]:
    if method not in METHODS:
        raise ValueError(f"Unknown baseline {method!r}; choose from {', '.join(METHODS)}.")
    for aggregate in ("mean", "max"):
        if method.endswith(f"_similarity_{aggregate}"):
            return method.removesuffix(f"_{aggregate}"), aggregate
    return method, default


def _require(generated: torch.Tensor | None, method: str) -> torch.Tensor:
    if generated is None:
        raise ValueError(f"{method} needs generated_images; pass them.")
    return generated


def _single(
    method: str,
    model: object,
    train_images: torch.Tensor,
    train_labels: torch.Tensor | np.ndarray,
    generated_images: torch.Tensor | None,
    config: BaselinesConfig | None,
    num_contributors: int | None,
    progress: bool,
    **kwargs: object,
) -> np.ndarray:
    results = compute_baselines(
        [method], model=model, train_images=train_images, train_labels=train_labels,
        generated_images=generated_images, config=config, num_contributors=num_contributors,
        progress=progress, **kwargs,
    )
    return results.scores[method]


def trak(model, train_images, train_labels, generated_images, *, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by TRAK with the diffusion loss on both sides; float64 [n].

    Args:
        model: a `DiffusionModel` or `(UNet2DModel, DDPMScheduler)` pair.
        train_images: float [N, C, H, W] in [-1, 1].
        train_labels: int [N], contributor index of each training image.
        generated_images: uint8 [M, C, H, W] or float in [-1, 1].
        config: baseline settings (`ridge_lambda`, projection, timesteps).
        num_contributors: `n`; `None` takes `train_labels.max() + 1`.
        progress: show progress bars.
    """
    return _single("trak", model, train_images, train_labels, generated_images, config, num_contributors, progress)


def d_trak(model, train_images, train_labels, generated_images, *, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by D-TRAK, TRAK with the loss `mean(ε_θ(x_t, t)²)`; float64 [n]. Arguments as `trak`."""
    return _single("d_trak", model, train_images, train_labels, generated_images, config, num_contributors, progress)


def journey_trak(model, train_images, train_labels, *, noises=None, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by Journey-TRAK over the DDIM trajectories from `noises`; float64 [n].

    Args:
        noises: float [M, C, H, W] initial noises; `None` draws
            `config.num_generated` of them from `config.seed`.
        Others as `trak`.
    """
    return _single("journey_trak", model, train_images, train_labels, None, config, num_contributors, progress, noises=noises)


def relative_influence(model, train_images, train_labels, generated_images, *, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by TRAK scores divided by `‖(ΦᵀΦ + λI)⁻¹ φ(x_j)‖`; float64 [n]. Arguments as `trak`."""
    return _single("relative_influence", model, train_images, train_labels, generated_images, config, num_contributors, progress)


def renormalized_influence(model, train_images, train_labels, generated_images, *, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by TRAK scores divided by `‖φ(x_j)‖`; float64 [n]. Arguments as `trak`."""
    return _single("renormalized_influence", model, train_images, train_labels, generated_images, config, num_contributors, progress)


def gradient_similarity(model, train_images, train_labels, generated_images, *, config=None, num_contributors=None, progress=False) -> np.ndarray:
    """Score contributors by the summed cosine of projected diffusion-loss gradients; float64 [n]. Arguments as `trak`."""
    return _single("gradient_similarity", model, train_images, train_labels, generated_images, config, num_contributors, progress)
