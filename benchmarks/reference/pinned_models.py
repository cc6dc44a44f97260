"""Share `θ*`, `θ̃*` and the property's classifier between sessions through `<results>/models/`.

Training on CPU is deterministic on one machine, but not across instruction
sets: the same seed gives other weights on an AVX2 machine than on an AVX-512
one. A session that trained its own `θ*`, `θ̃*` and study classifier therefore
measured another game than the session before it. The first runner to have a
model exports it here, the folder is committed with the CSV files, and a new
session imports it instead of training:

- `train-<digest>/`, `prune-<digest>/` and `classifier-<key>/`: the artifact
  of the train, prune and classifier runs, logged back as FINISHED runs with
  that digest or key, from which the product's stages fetch them as usual;
- `pinned.json`: for each folder, the weights' SHA-256, the machine that
  trained them and when they were exported.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import mlflow
from store_import import TAG_IMPORTED_FROM

from diffusion_credit import stages, store
from diffusion_credit.errors import InputError
from diffusion_credit.study import Study

__all__ = ["MODELS_FOLDER", "MANIFEST", "export_models", "import_models", "model_folders", "read_manifest"]

logger = logging.getLogger(__name__)

MODELS_FOLDER = "models"
MANIFEST = "pinned.json"


def read_manifest(results: str | Path) -> dict[str, dict]:
    """Return `pinned.json` as {folder name: entry}, or {} when nothing is pinned yet."""
    path = Path(results) / MODELS_FOLDER / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def import_models(study: Study, results: str | Path) -> list[str]:
    """Make the study use the pinned models by logging each one as a FINISHED run of its kind.

    A model whose digest already has a FINISHED run in the store is left
    alone. A folder whose weights differ from the SHA-256 in `pinned.json`
    raises `InputError`.

    Returns:
        The names of the folders imported.
    """
    folder = Path(results) / MODELS_FOLDER
    manifest = read_manifest(results)
    imported = []
    for kind, digest, artifact in _pinned_runs(study):
        name = f"{kind}-{digest}"
        if not (folder / name).is_dir() or stages.find_model_run(study, kind, digest) is not None:
            continue
        _check_weights(folder / name, manifest)
        tags = {store.TAG_DIGEST: digest, store.TAG_WEIGHTS_SHA256: manifest[name]["sha256"], TAG_IMPORTED_FROM: f"{MODELS_FOLDER}/{name}"}
        with store.start_run(study.name, kind, tags=tags, run_name=kind):
            mlflow.log_artifacts(str(folder / name), artifact)
        imported.append(name)

    if imported:
        logger.info("Imported the pinned models %s from %s", ", ".join(imported), folder)
    return imported


def export_models(study: Study, results: str | Path, *, machine: str) -> list[str]:
    """Copy `θ*`, `θ̃*` and the study classifier into `<results>/models/` unless they are there already.

    Only what has a FINISHED run is exported: a model still training waits
    for a later call.

    Returns:
        The names of the folders exported.
    """
    folder = Path(results) / MODELS_FOLDER
    exported = []
    for kind, digest, artifact in _pinned_runs(study):
        name = f"{kind}-{digest}"
        run = stages.find_model_run(study, kind, digest)
        if (folder / name).is_dir() or run is None:
            continue
        with store.downloaded_artifact(run, artifact) as local:
            _copy_atomically(local, folder / name)
        exported.append(name)

    if exported:
        _add_to_manifest(folder, exported, machine)
        logger.info("Pinned %s in %s; commit the folder so later sessions use the same models.", ", ".join(exported), folder)
    return exported


def model_folders(study: Study, method: str, coalition: str | None = None) -> dict[str, str]:
    """Return the folder name of each model `method` evaluates `coalition` with, by role: `train`, `prune` and `classifier`.

    Retraining uses `θ*` only for the full coalition, whose value is `θ*`'s; without a coalition, retraining uses no `θ*`.
    """
    folders = {}
    if method != "retrain" or (coalition is not None and "0" not in coalition):
        folders["train"] = f"train-{study.train_digest}"
    if method == "sft":
        folders["prune"] = f"prune-{study.prune_digest}"
    key = _classifier_key(study)
    if key:
        folders["classifier"] = f"classifier-{key}"
    return folders


def _classifier_key(study: Study) -> str | None:
    """Return the cache key of the study classifier, or None when the property has no study classifier."""
    return stages.classifier_entry(study)[0]


def _pinned_runs(study: Study) -> list[tuple[str, str, str]]:
    """Return (run kind, digest, artifact path) of each model the study may pin."""
    runs = [("train", study.train_digest, "model"), ("prune", study.prune_digest, "model")]
    key = _classifier_key(study)
    if key:
        runs.append(("classifier", key, "classifier"))
    return runs


def _check_weights(folder: Path, manifest: dict[str, dict]) -> None:
    expected = manifest.get(folder.name, {}).get("sha256")
    if expected is None:
        raise InputError(f"{folder} is not listed in {MANIFEST}; delete the folder, or restore {MANIFEST} from git.")
    if stages.weights_sha256(folder) != expected:
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
        manifest[name] = {"sha256": stages.weights_sha256(folder / name), "machine": machine, "exported_at": exported_at}
    staging = folder / f".{MANIFEST}.tmp"
    staging.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    staging.replace(folder / MANIFEST)
