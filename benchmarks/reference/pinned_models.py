"""Share `θ*`, `θ̃*` and the property's classifier between sessions through `<results>/models/`.

Training on CPU is deterministic on one machine, but not across instruction
sets: the same seed gives other weights on an AVX2 machine than on an AVX-512
one. A session that trained its own `θ*`, `θ̃*` and study classifier therefore
measured another game than the session before it. The first runner to have a
model exports it here, the folder is committed with the CSV files, and a new
session imports it instead of training:

- `train-<digest>/` and `prune-<digest>/`: the `model` artifact of the train
  and prune runs, logged back as FINISHED runs with that digest;
- `classifier-<key>/`: the study classifier's cache entry, copied into the
  study's cache folder;
- `pinned.json`: for each folder, the weights' SHA-256, the machine that
  trained them and when they were exported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import mlflow
from store_import import TAG_IMPORTED_FROM

from diffusion_credit import store
from diffusion_credit.errors import InputError
from diffusion_credit.properties.backends import classifier_settings
from diffusion_credit.properties.classifier import classifier_key
from diffusion_credit.study import Study

__all__ = ["MODELS_FOLDER", "MANIFEST", "export_models", "import_models", "model_folders", "read_manifest", "weights_sha256"]

logger = logging.getLogger(__name__)

MODELS_FOLDER = "models"
MANIFEST = "pinned.json"

_STAGES = ("train", "prune")


def weights_sha256(folder: str | Path) -> str:
    """Return the SHA-256 over every `*.safetensors` file in `folder`, in sorted path order."""
    folder = Path(folder)
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        sha.update(path.relative_to(folder).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def read_manifest(results: str | Path) -> dict[str, dict]:
    """Return `pinned.json` as {folder name: entry}, or {} when nothing is pinned yet."""
    path = Path(results) / MODELS_FOLDER / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def import_models(study: Study, results: str | Path) -> list[str]:
    """Make the study use the pinned models: log them as runs and copy the classifier into the cache.

    A stage whose digest already has a FINISHED run in the store, or a
    classifier already in the cache, is left alone. A folder whose weights
    differ from the SHA-256 in `pinned.json` raises `InputError`.

    Returns:
        The names of the folders imported.
    """
    folder = Path(results) / MODELS_FOLDER
    manifest = read_manifest(results)
    imported = []
    for stage, digest in zip(_STAGES, (study.train_digest, study.prune_digest)):
        name = f"{stage}-{digest}"
        if not (folder / name).is_dir() or _find_stage_run(study, stage, digest) is not None:
            continue
        _check_weights(folder / name, manifest)
        with store.start_run(study.name, stage, tags={store.TAG_DIGEST: digest, TAG_IMPORTED_FROM: f"{MODELS_FOLDER}/{name}"}, run_name=stage):
            mlflow.log_artifacts(str(folder / name), "model")
        imported.append(name)

    for entry in sorted(folder.glob("classifier-*")):
        target = study.cache_dir / "classifiers" / entry.name.removeprefix("classifier-")
        if target.exists():
            continue
        _check_weights(entry, manifest)
        _copy_atomically(entry, target)
        imported.append(entry.name)

    if imported:
        logger.info("Imported the pinned models %s from %s", ", ".join(imported), folder)
    return imported


def export_models(study: Study, results: str | Path, *, machine: str) -> list[str]:
    """Copy `θ*`, `θ̃*` and the study classifier into `<results>/models/` unless they are there already.

    Only what exists is exported: a model whose run has not finished, or a
    classifier not trained yet, waits for a later call.

    Returns:
        The names of the folders exported.
    """
    folder = Path(results) / MODELS_FOLDER
    exported = []
    for stage, digest in zip(_STAGES, (study.train_digest, study.prune_digest)):
        name = f"{stage}-{digest}"
        run = _find_stage_run(study, stage, digest)
        if (folder / name).is_dir() or run is None:
            continue
        _copy_atomically(store.download_artifact(run, "model"), folder / name)
        exported.append(name)

    key = _classifier_key(study)
    if key and (study.cache_dir / "classifiers" / key).is_dir() and not (folder / f"classifier-{key}").is_dir():
        _copy_atomically(study.cache_dir / "classifiers" / key, folder / f"classifier-{key}")
        exported.append(f"classifier-{key}")

    if exported:
        _add_to_manifest(folder, exported, machine)
        logger.info("Pinned %s in %s; commit the folder so later sessions use the same models.", ", ".join(exported), folder)
    return exported


def model_folders(study: Study, method: str) -> dict[str, str]:
    """Return the folder name of each model `method` evaluates with, by role: `train`, `prune` and `classifier`."""
    folders = {}
    if method != "retrain":
        folders["train"] = f"train-{study.train_digest}"
    if method == "sft":
        folders["prune"] = f"prune-{study.prune_digest}"
    key = _classifier_key(study)
    if key:
        folders["classifier"] = f"classifier-{key}"
    return folders


def _classifier_key(study: Study) -> str | None:
    """Return the cache key of the study classifier, or None when the property has no study classifier."""
    if study.config.property.backend != "study":
        return None
    return classifier_key(study.dataset, classifier_settings(study.config.property))


def _find_stage_run(study: Study, stage: str, digest: str):
    return store.find_finished({store.TAG_KIND: stage, store.TAG_STUDY: study.name, store.TAG_DIGEST: digest})


def _check_weights(folder: Path, manifest: dict[str, dict]) -> None:
    expected = manifest.get(folder.name, {}).get("sha256")
    if expected is None:
        raise InputError(f"{folder} is not listed in {MANIFEST}; delete the folder, or restore {MANIFEST} from git.")
    if weights_sha256(folder) != expected:
        raise InputError(f"The weights in {folder} do not match their SHA-256 in {MANIFEST}; restore the folder from git.")


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy the folder `source` to `target` through a temporary sibling, so a kill never leaves half a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _add_to_manifest(folder: Path, names: list[str], machine: str) -> None:
    manifest = read_manifest(folder.parent)
    exported_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for name in names:
        manifest[name] = {"sha256": weights_sha256(folder / name), "machine": machine, "exported_at": exported_at}
    staging = folder / f".{MANIFEST}.tmp"
    staging.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    staging.replace(folder / MANIFEST)
