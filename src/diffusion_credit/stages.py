"""The model stages of a study: dataset record, full model `θ*`, pruned model `θ̃*`, study classifier.

Each stage first looks for a FINISHED run with the same digest and reuses it.
Without one, it computes the result and logs it as a run. Training checkpoints
live in the study's cache folder, so a training killed halfway resumes there.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
import time
from pathlib import Path

import mlflow

from . import reports, store
from .study import Study

__all__ = ["log_dataset", "full_model", "pruned_model", "load_model_from_run", "fetch_classifier", "publish_classifier", "classifier_entry", "find_model_run", "weights_sha256"]

logger = logging.getLogger(__name__)

_GRID_IMAGES = 64


def log_dataset(study: Study, *, nested: bool = True) -> str:
    """Log (or reuse) the study's `dataset` run and return its run id."""
    dataset = study.dataset
    tags = {store.TAG_DIGEST: dataset.digest}
    found = store.find_finished({store.TAG_KIND: "dataset", store.TAG_STUDY: study.name, **tags})
    if found is not None:
        logger.info("Reusing dataset run %s", found.info.run_id)
        return found.info.run_id

    with store.start_run(study.name, "dataset", tags=tags, run_name="dataset", nested=nested) as run:
        mlflow.log_params({"data.path": study.config.data.path, "data.resolution": study.config.data.resolution})
        mlflow.log_metrics({"dataset.images": len(dataset.labels), "dataset.contributors": len(dataset.contributors)})
        store.log_json(list(dataset.contributors), "contributors.json")
        store.log_json(dict(dataset.counts), "counts.json")
        with tempfile.TemporaryDirectory() as tmp:
            sheet = reports.contact_sheet(dataset, Path(tmp) / "contact_sheet.png")
            mlflow.log_artifact(str(sheet))
        return run.info.run_id


def full_model(study: Study, *, nested: bool = True):
    """Return the full model `θ*` and its run id, training and logging it if no run matches."""
    found = find_model_run(study, "train", study.train_digest)
    if found is not None:
        logger.info("Reusing full model from train run %s", found.info.run_id)
        return load_model_from_run(found), found.info.run_id

    from .models import create_model
    from .training import train

    model = create_model(study.config.model, study.image_shape, seed=study.config.training.seed)
    with store.start_run(study.name, "train", tags={store.TAG_DIGEST: study.train_digest}, run_name="train", nested=nested) as run:
        _log_config(study)
        mlflow.log_metric("model.parameters", model.num_parameters())
        started = time.perf_counter()
        result = train(
            model,
            study.dataset.images,
            study.config.training,
            device=study.device,
            checkpoint_dir=study.cache_dir / "checkpoints" / f"train-{study.train_digest}",
            progress=study.progress,
        )
        mlflow.log_metric("time.train_s", time.perf_counter() - started)
        _log_model_outputs(study, model, result.losses, prefix="train")
        return model, run.info.run_id


def pruned_model(study: Study, *, nested: bool = True):
    """Return the pruned, all-data fine-tuned model `θ̃*` and its run id (reused or computed)."""
    found = find_model_run(study, "prune", study.prune_digest)
    if found is not None:
        logger.info("Reusing pruned model from prune run %s", found.info.run_id)
        return load_model_from_run(found), found.info.run_id

    from .pruning import prune_model
    from .training import finetune

    pruning = study.config.pruning
    with store.start_run(study.name, "prune", tags={store.TAG_DIGEST: study.prune_digest}, run_name="prune", nested=nested) as run:
        _log_config(study)
        model, train_run_id = full_model(study, nested=True)
        model = copy.deepcopy(model)
        mlflow.set_tag("credit.train_run", train_run_id)
        report = prune_model(model, pruning.ratio)
        mlflow.log_metrics(
            {
                "model.parameters_before": report.params_before,
                "model.parameters": report.params_after,
                "model.macs_before": report.macs_before,
                "model.macs": report.macs_after,
            }
        )
        logger.info(
            "Pruned %.0f%% of channels: %s -> %s parameters",
            100 * pruning.ratio,
            f"{report.params_before:,}",
            f"{report.params_after:,}",
        )
        started = time.perf_counter()
        result = finetune(model, study.dataset.images, pruning.finetune, device=study.device, progress=study.progress)
        mlflow.log_metric("time.train_s", time.perf_counter() - started)
        _log_model_outputs(study, model, result.losses, prefix="finetune")
        return model, run.info.run_id


def fetch_classifier(study: Study) -> None:
    """Copy the study classifier from its `classifier` run into the cache, replacing a cached one with other weights.

    CPU training gives other weights on another instruction set, so machines
    that share a run store must also share the classifier behind the
    property. The run store wins over a classifier that this machine trained
    before it shared the store. Does nothing for a property without a study
    classifier, or when the store has no `classifier` run yet.
    """
    key, entry = classifier_entry(study)
    if key is None:
        return
    found = find_model_run(study, "classifier", key)
    if found is None:
        return
    from .properties.classifier import entry_is_complete

    complete = entry_is_complete(entry)
    # Runs logged before the hash tag existed carry none: their weights are downloaded and compared instead.
    if complete and found.data.tags.get(store.TAG_WEIGHTS_SHA256) == weights_sha256(entry):
        return

    entry.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{key}.", dir=entry.parent) as staging:
        downloaded = store.download_artifact(found, "classifier", staging)
        if entry.is_dir():
            if complete and weights_sha256(entry) == weights_sha256(downloaded):
                return
            reason = "has other weights than" if complete else "misses files that are in"
            logger.warning(
                "The cached contributor classifier %s %s classifier run %s, so the run's copy replaces it.",
                entry,
                reason,
                found.info.run_id,
            )
            _move_aside(entry, Path(staging) / "replaced")

        try:
            downloaded.rename(entry)
        except OSError:
            # Another process of this machine fetched it first.
            if not entry.is_dir():
                raise
    logger.info("Fetched the contributor classifier %s from classifier run %s", key, found.info.run_id)


def publish_classifier(study: Study, *, nested: bool = True) -> None:
    """Log the cached study classifier as a `classifier` run, unless a run with its key exists."""
    key, entry = classifier_entry(study)
    if key is None or not entry.is_dir():
        return
    if find_model_run(study, "classifier", key) is not None:
        return
    # NOTE: two machines that train the classifier at the same time each log a run and measure with their own weights
    # until the next fetch, which takes the newest run. Build the property once before starting other machines.
    tags = {store.TAG_DIGEST: key, store.TAG_WEIGHTS_SHA256: weights_sha256(entry)}
    with store.start_run(study.name, "classifier", tags=tags, run_name="classifier", nested=nested):
        mlflow.log_artifacts(str(entry), "classifier")
    logger.info("Logged the contributor classifier %s to the run store", key)


def classifier_entry(study: Study) -> tuple[str | None, Path]:
    """Return the study classifier's cache key and folder; the key is None when the property has no study classifier."""
    if study.config.property.backend != "study":
        return None, Path()
    from .properties.backends import classifier_settings
    from .properties.classifier import classifier_key

    key = classifier_key(study.dataset, classifier_settings(study.config.property))
    return key, Path(study.cache_dir) / "classifiers" / key


def weights_sha256(folder: str | Path) -> str:
    """Return the SHA-256 over every `*.safetensors` file in `folder`, in sorted path order."""
    folder = Path(folder)
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        sha.update(path.relative_to(folder).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def load_model_from_run(run) -> "object":
    """Load the `model` artifact of a train or prune run."""
    from .models import DiffusionModel

    with store.downloaded_artifact(run, "model") as local:
        return DiffusionModel.load(local)


def find_model_run(study: Study, kind: str, digest: str):
    """Return the FINISHED `train`, `prune` or `classifier` run of `study` whose digest is `digest`, or None."""
    return store.find_finished({store.TAG_KIND: kind, store.TAG_STUDY: study.name, store.TAG_DIGEST: digest})


def _move_aside(folder: Path, target: Path) -> None:
    """Move `folder` to `target`, unless another process moved it first."""
    try:
        folder.rename(target)
    except FileNotFoundError:
        pass


def _log_config(study: Study) -> None:
    store.log_json(study.config.to_dict(), "config.json")
    mlflow.log_params(
        {
            "study.config": study.config.source or "",
            "data.path": study.config.data.path,
            "model.block_out_channels": study.config.model.block_out_channels,
            "training.steps": study.config.training.steps,
            "pruning.ratio": study.config.pruning.ratio,
        }
    )


def _log_model_outputs(study: Study, model, losses: list[float], *, prefix: str) -> None:
    from .sampling import generate

    reports.log_loss_curve(losses, f"{prefix}.loss")
    sampling = study.config.sampling
    images = generate(
        model,
        min(_GRID_IMAGES, sampling.num_images),
        num_inference_steps=sampling.num_inference_steps,
        batch_size=sampling.batch_size,
        seed=sampling.seed,
        device=study.device,
        progress=False,
    )
    reports.log_image_grid(images, "samples.png")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        mlflow.log_artifacts(str(Path(tmp) / "model"), "model")
