"""Attribution baselines that Shapley credit is compared with.

Similarity (pixel and embedding cosine), the TRAK family (TRAK, D-TRAK,
Journey-TRAK, relative and renormalized influence, gradient similarity),
leave-one-out and a per-image property score. Each method returns one score
per contributor, float64 [n]; `compute_baselines` runs several at once and
shares their gradient features.
"""

from .config import METHODS, BaselinesConfig
from .direct import leave_one_out, mean_property_score
from .features import gradient_features, trajectory_features
from .journey import Trajectory, ddim_trajectory, initial_noises
from .methods import (
    BaselineResults,
    FeatureCache,
    compute_baselines,
    d_trak,
    gradient_similarity,
    journey_trak,
    relative_influence,
    renormalized_influence,
    trak,
)
from .projection import RandomProjector
from .ridge import RidgeSelection, additive_predictions, select_ridge_lambda
from .scores import RidgeKernel, SingularKernelError
from .similarity import embedding_similarity, pixel_similarity

__all__ = [
    "METHODS",
    "BaselinesConfig",
    "BaselineResults",
    "FeatureCache",
    "RandomProjector",
    "RidgeKernel",
    "RidgeSelection",
    "SingularKernelError",
    "Trajectory",
    "additive_predictions",
    "compute_baselines",
    "d_trak",
    "ddim_trajectory",
    "embedding_similarity",
    "gradient_features",
    "gradient_similarity",
    "initial_noises",
    "journey_trak",
    "leave_one_out",
    "mean_property_score",
    "pixel_similarity",
    "relative_influence",
    "renormalized_influence",
    "select_ridge_lambda",
    "trajectory_features",
    "trak",
]
