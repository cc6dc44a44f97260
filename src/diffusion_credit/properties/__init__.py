"""Global properties `F` of generated images: registry and implementations.

Build one from the study config and measure it on uint8 images:

    prop = build_property(config.property, dataset=dataset)
    result = prop(images)          # PropertyResult(value, per_image, settings)

Registered properties: `inception_score` (backends `study`, `inception`),
`cluster_entropy` (any backend; call `prop.fit_reference(full_model_images)`
first) and `aesthetic_score` (backend `clip`).
"""

from diffusion_credit.properties.aesthetic import AestheticScore, aesthetic_scores, load_aesthetic_head
from diffusion_credit.properties.backends import EmbeddingBackend, InceptionBackend, StudyBackend, build_backend
from diffusion_credit.properties.base import (
    GlobalProperty,
    PropertyResult,
    build_property,
    check_images,
    register_property,
    registered_properties,
)
from diffusion_credit.properties.classifier import ClassifierSettings, ContributorClassifier, load_or_train_classifier
from diffusion_credit.properties.cluster_entropy import ClusterEntropy, ReferenceClusters, entropy, fit_ward_clusters
from diffusion_credit.properties.fid import frechet_distance, training_fid
from diffusion_credit.properties.inception_score import InceptionScore, inception_score, kl_to_marginal

__all__ = [
    "AestheticScore",
    "ClassifierSettings",
    "ClusterEntropy",
    "ContributorClassifier",
    "EmbeddingBackend",
    "GlobalProperty",
    "InceptionBackend",
    "InceptionScore",
    "PropertyResult",
    "ReferenceClusters",
    "StudyBackend",
    "aesthetic_scores",
    "build_backend",
    "build_property",
    "check_images",
    "entropy",
    "fit_ward_clusters",
    "frechet_distance",
    "inception_score",
    "kl_to_marginal",
    "load_aesthetic_head",
    "load_or_train_classifier",
    "register_property",
    "registered_properties",
    "training_fid",
]
