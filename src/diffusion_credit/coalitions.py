"""Evaluating one coalition value `v(S)` and logging it as a coalition run.

`v(S)` is the global property of a model obtained from the data of the
contributors in `S` by one method:

- `sft`: fine-tune the pruned model `θ̃*` on `S` (sparsified fine-tuning);
- `ft`: fine-tune the full model `θ*` on `S`;
- `retrain`: train from random initialisation on `S`.

The all-zeros coalition under `retrain` is the untrained model and the
all-ones coalition under `retrain` is `θ*` itself. The evaluation is a pure
function of its `eval_key`, so a FINISHED run with the same key is reused.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow

from . import reports, store
from .config import digest
from .errors import InputError
from .study import Study

__all__ = ["METHODS", "CoalitionValue", "recipe_key", "eval_key", "find_coalition_run", "evaluate_coalition", "property_metric", "check_fine_tunable"]

logger = logging.getLogger(__name__)

METHODS = ("sft", "ft", "retrain")


@dataclass(frozen=True)
class CoalitionValue:
    """The property value of one coalition under one method, with the run that stores it."""

    coalition: str
    method: str
    value: float
    run_id: str
    reused: bool
    seconds: float


def property_metric(study: Study) -> str:
    """Return the metric name of the study's property, e.g. `property.inception_score`."""
    return f"property.{study.config.property.name}"


def check_method(method: str) -> None:
    if method == "lora":
        raise InputError("Method 'lora' needs the lora model family, which is not implemented yet; use sft, ft or retrain.")
    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")


def check_fine_tunable(coalition: str, method: str) -> None:
    """Raise `InputError` when `method` fine-tunes and `coalition` has no contributor to fine-tune on."""
    if method != "retrain" and coalition and set(coalition) == {"0"}:
        raise InputError(f"Method {method!r} cannot fine-tune on the empty coalition {coalition}; use method 'retrain'.")


def recipe_key(study: Study, method: str, seed: int | None = None) -> str:
    """Return the digest of everything but the coalition that determines `v(S)`.

    Coalition runs with the same recipe form one game; the `shapley` entry
    point groups the store's runs by it.
    """
    config = study.config
    if method == "sft":
        recipe = ("sft", study.prune_digest, config.finetune)
    elif method == "ft":
        recipe = ("ft", study.train_digest, config.finetune)
    else:
        recipe = ("retrain", study.dataset.digest, config.model, config.retraining)
    return digest(recipe, seed, config.sampling, study.property_settings())


def eval_key(study: Study, coalition: str, method: str, seed: int | None = None) -> str:
    """Return the digest of everything that determines `v(S)` for this method."""
    return digest(recipe_key(study, method, seed), coalition)


def find_coalition_run(study: Study, key: str, extra_tags: Mapping[str, str] | None = None):
    """Return the newest FINISHED coalition run with this key, or None.

    The value depends on the key alone, so a run is reused whatever its other
    tags. `extra_tags` (a datamodel set) are added to a reused run that has no
    datamodel tags yet; a run already in another set keeps its own tags.
    """
    found = store.find_finished({store.TAG_KIND: "coalition", store.TAG_STUDY: study.name, store.TAG_EVAL_KEY: key})
    if found is not None and extra_tags and store.TAG_DATAMODEL_ALPHA not in found.data.tags:
        client = mlflow.MlflowClient()
        for name, value in extra_tags.items():
            client.set_tag(found.info.run_id, name, value)
    return found


def evaluate_coalition(
    study: Study,
    coalition: str,
    method: str,
    *,
    seed: int | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = True,
    parent_run_id: str | None = None,
) -> CoalitionValue:
    """Return `v(S)`, reusing a finished run with the same key or computing and logging it.

    Args:
        study: the study.
        coalition: bitstring over the study's contributor order.
        method: `sft`, `ft` or `retrain`.
        seed: overrides the training or fine-tuning seed (for seed-noise studies).
        tags: extra tags for the run, e.g. the datamodel set (see `find_coalition_run` on reuse).
        nested: nest the run under the active run.
        parent_run_id: nest the run under this run instead (used by worker processes).
    """
    check_method(method)
    from .data import parse_coalition

    parse_coalition(coalition, len(study.contributors))
    check_fine_tunable(coalition, method)
    key = eval_key(study, coalition, method, seed)
    metric = property_metric(study)

    found = find_coalition_run(study, key, tags)
    if found is not None:
        return CoalitionValue(coalition, method, found.data.metrics[metric], found.info.run_id, True, 0.0)

    run_tags = {
        store.TAG_COALITION: coalition,
        store.TAG_METHOD: method,
        store.TAG_EVAL_KEY: key,
        store.TAG_RECIPE: recipe_key(study, method, seed),
        store.TAG_DATA_DIGEST: study.dataset.digest,
        **(tags or {}),
    }
    with store.start_run(
        study.name, "coalition", tags=run_tags, run_name=f"{method}-{coalition}", nested=nested, parent_run_id=parent_run_id
    ) as run:
        mlflow.log_params(
            {"coalition.bits": coalition, "coalition.method": method, "coalition.seed": seed, "coalition.size": coalition.count("1")}
        )
        started = time.perf_counter()
        value = _measure(study, coalition, method, seed)
        logger.info("v(%s) = %.4f by %s in %.1f s", coalition, value, method, time.perf_counter() - started)
        return CoalitionValue(coalition, method, value, run.info.run_id, False, time.perf_counter() - started)


def _measure(study: Study, coalition: str, method: str, seed: int | None) -> float:
    from .sampling import generate

    started = time.perf_counter()
    model = _coalition_model(study, coalition, method, seed)
    mlflow.log_metric("time.train_s", time.perf_counter() - started)

    started = time.perf_counter()
    sampling = study.config.sampling
    images = generate(
        model,
        sampling.num_images,
        num_inference_steps=sampling.num_inference_steps,
        batch_size=sampling.batch_size,
        seed=sampling.seed,
        device=study.device,
        progress=False,
    )
    mlflow.log_metric("time.sample_s", time.perf_counter() - started)

    started = time.perf_counter()
    result = study.property(images)
    mlflow.log_metric("time.property_s", time.perf_counter() - started)
    mlflow.log_metric(property_metric(study), result.value)
    _log_fid(study, images)
    reports.log_image_grid(images[:64], "samples.png")
    return float(result.value)


def _log_fid(study: Study, images) -> None:
    """Log the FID against the training images, in the property's feature space, as a diagnostic."""
    backend = getattr(study.property, "backend", None)
    if backend is None or len(images) < 2:
        return
    from .properties import training_fid

    started = time.perf_counter()
    mlflow.log_metric("diagnostic.fid_train", training_fid(backend, images, study.dataset))
    mlflow.log_metric("time.fid_s", time.perf_counter() - started)


def _coalition_model(study: Study, coalition: str, method: str, seed: int | None):
    from .training import finetune, train

    config = study.config
    indices = study.dataset.indices(coalition)
    images = study.dataset.images[indices]

    if method == "retrain":
        if seed is None and "1" not in coalition:
            return study.untrained_model()
        if seed is None and "0" not in coalition:
            return study.full_model()
        recipe = config.retraining if seed is None else dataclasses.replace(config.retraining, seed=seed)
        from .models import create_model

        model = create_model(config.model, study.image_shape, seed=recipe.seed)
        train(model, images, recipe, device=study.device, progress=study.progress)
        return model

    base = study.pruned_model() if method == "sft" else study.full_model()
    model = copy.deepcopy(base)
    recipe = config.finetune if seed is None else dataclasses.replace(config.finetune, seed=seed)
    finetune(model, images, recipe, device=study.device, progress=study.progress)
    return model
