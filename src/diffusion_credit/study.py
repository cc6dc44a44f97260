"""A study in memory: its config, dataset, device and the digests that key its runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from . import store
from .config import StudyConfig, digest

__all__ = ["Study", "resolve_device"]

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    """Map `auto` to `cuda` when a GPU is visible, else `cpu`."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@dataclass
class Study:
    """Everything a stage needs about one study.

    The digests chain: the data digest feeds the full model's, which feeds
    the pruned model's, which feeds each coalition's `eval_key`. A change
    anywhere upstream therefore invalidates everything downstream.
    """

    config: StudyConfig
    progress: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.config.name

    @cached_property
    def device(self) -> str:
        return resolve_device(self.config.device)

    @cached_property
    def cache_dir(self) -> Path:
        path = Path(self.config.data.cache_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def dataset(self):
        from .data import load_dataset

        # Relative data paths that do not exist from the working directory are
        # looked up beside the config's folder (the repository for configs/).
        base_dir = Path(self.config.source).resolve().parent.parent if self.config.source else None
        dataset = load_dataset(self.config.data, progress=self.progress, base_dir=base_dir)
        logger.info(
            "Dataset %s: %d images from %d contributors (digest %s)",
            self.config.data.path,
            len(dataset.labels),
            len(dataset.contributors),
            dataset.digest,
        )
        return dataset

    @property
    def contributors(self) -> list[str]:
        return list(self.dataset.contributors)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.dataset.images.shape[1:])

    @cached_property
    def train_digest(self) -> str:
        """Key of the full model `θ*`: data, architecture and training recipe."""
        return digest("train", self.dataset.digest, self.config.model, self.config.training)

    @cached_property
    def prune_digest(self) -> str:
        """Key of the pruned, fine-tuned model `θ̃*`."""
        return digest("prune", self.train_digest, self.config.pruning)

    def tracking(self) -> str:
        """Point MLflow at the study's run store, close its abandoned runs and return the store's URI."""
        uri = store.configure(self.config.tracking.uri)
        store.close_abandoned_runs(self.name)
        return uri

    # Models and the property are built once per process and shared by stages.

    def full_model(self):
        """Return the full model `θ*`, reused from its train run or trained and logged."""
        if "full" not in self._cache:
            from . import stages

            self._cache["full"] = stages.full_model(self)
        return self._cache["full"][0]

    def pruned_model(self):
        """Return the pruned, all-data fine-tuned model `θ̃*`, reused or computed and logged."""
        if "pruned" not in self._cache:
            from . import stages

            self._cache["pruned"] = stages.pruned_model(self)
        return self._cache["pruned"][0]

    def untrained_model(self):
        """Return the randomly initialised model of `v(∅)`, seeded like `θ*`."""
        from .models import create_model

        return create_model(self.config.model, self.image_shape, seed=self.config.training.seed)

    @cached_property
    def property(self):
        """The global property `F`, with its reference fitted on `θ*`'s samples when it needs one.

        A study classifier comes from the run store when another process
        logged it, and is logged there after this process trained it.
        """
        from . import stages
        from .properties import build_property

        stages.fetch_classifier(self)
        prop = build_property(
            self.config.property,
            dataset=self.dataset,
            device=self.device,
            cache_dir=str(self.cache_dir),
            progress=self.progress,
        )
        stages.publish_classifier(self)
        if hasattr(prop, "fit_reference"):
            from .sampling import generate

            sampling = self.config.sampling
            images = generate(
                self.full_model(),
                sampling.num_images,
                num_inference_steps=sampling.num_inference_steps,
                batch_size=sampling.batch_size,
                seed=sampling.seed,
                device=self.device,
                progress=self.progress,
            )
            prop.fit_reference(images)
        return prop

    def property_settings(self) -> dict:
        """Everything that determines a property value, for coalition keys."""
        return dict(self.property.settings)
