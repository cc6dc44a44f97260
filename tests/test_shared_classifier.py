"""The study classifier is shared through the run store, so machines that share a store measure with the same weights."""

import logging
import shutil

from safetensors.torch import load_file, save_file

from diffusion_credit import stages, store
from diffusion_credit.config import load_config
from diffusion_credit.properties import classifier
from diffusion_credit.study import Study


def classifier_runs(study):
    return store.search_runs({store.TAG_KIND: "classifier", store.TAG_STUDY: study.name})


def publish_classifier(config) -> str:
    """Build the property of a first study, which trains and publishes its classifier; return the classifier key."""
    first = Study(load_config(config), progress=False)
    first.tracking()
    first.property
    [run] = classifier_runs(first)
    return run.data.tags[store.TAG_DIGEST]


def build_property_forbidding(monkeypatch, module, name, message, config, overrides=None):
    """Build the property of a new Study on `config`, with `module.name` raising AssertionError(message) if called."""

    def forbidden(*args, **kwargs):
        raise AssertionError(message)

    monkeypatch.setattr(module, name, forbidden)
    study = Study(load_config(config, overrides), progress=False)
    study.tracking()
    study.property
    return study


def test_empty_cache_fetches_classifier_from_store(tmp_path, write_smoke_config, monkeypatch):
    config = write_smoke_config(tmp_path)
    key = publish_classifier(config)
    weights = (tmp_path / "cache" / "classifiers" / key / "model.safetensors").read_bytes()

    # Another machine: the same store, an empty cache, and no training allowed.
    message = "the classifier was trained again instead of fetched from the run store"
    second = build_property_forbidding(
        monkeypatch, classifier, "train_classifier", message, config, {"data.cache_dir": str(tmp_path / "other-cache")}
    )

    assert (tmp_path / "other-cache" / "classifiers" / key / "model.safetensors").read_bytes() == weights
    assert len(classifier_runs(second)) == 1


def test_store_classifier_replaces_other_cached_weights(tmp_path, write_smoke_config, caplog):
    config = write_smoke_config(tmp_path)
    key = publish_classifier(config)
    published = tmp_path / "cache" / "classifiers" / key

    # This machine trained its own classifier under the same key before it shared the store.
    cached = tmp_path / "other-cache" / "classifiers" / key
    shutil.copytree(published, cached)
    tensors = load_file(cached / "model.safetensors")
    save_file({name: tensor + 1 for name, tensor in tensors.items()}, cached / "model.safetensors")
    assert stages.weights_sha256(cached) != stages.weights_sha256(published)

    second = Study(load_config(config, {"data.cache_dir": str(tmp_path / "other-cache")}), progress=False)
    second.tracking()
    with caplog.at_level(logging.WARNING, logger="diffusion_credit.stages"):
        second.property

    assert (cached / "model.safetensors").read_bytes() == (published / "model.safetensors").read_bytes()
    assert "other weights than classifier run" in caplog.text
    assert sorted(path.name for path in cached.parent.iterdir()) == [key]
    assert len(classifier_runs(second)) == 1


def test_matching_cache_skips_the_download(tmp_path, write_smoke_config, monkeypatch):
    config = write_smoke_config(tmp_path)
    key = publish_classifier(config)
    [run] = classifier_runs(Study(load_config(config), progress=False))
    assert run.data.tags[store.TAG_WEIGHTS_SHA256] == stages.weights_sha256(tmp_path / "cache" / "classifiers" / key)

    message = "the classifier was downloaded although the cached weights match the run's hash tag"
    build_property_forbidding(monkeypatch, store, "download_artifact", message, config)


def test_incomplete_cache_is_restored_from_store(tmp_path, write_smoke_config, monkeypatch):
    config = write_smoke_config(tmp_path)
    key = publish_classifier(config)
    entry = tmp_path / "cache" / "classifiers" / key
    (entry / "meta.json").unlink()

    message = "the classifier was trained again instead of restored from the run store"
    second = build_property_forbidding(monkeypatch, classifier, "train_classifier", message, config)

    assert (entry / "meta.json").is_file()
    assert len(classifier_runs(second)) == 1


def test_classifier_is_published_once(tmp_path, write_smoke_config):
    config = write_smoke_config(tmp_path)
    for _ in range(2):
        study = Study(load_config(config), progress=False)
        study.tracking()
        study.property
    [run] = classifier_runs(study)
    artifacts = {item.path for item in store.MlflowClient().list_artifacts(run.info.run_id, "classifier")}
    assert artifacts == {"classifier/meta.json", "classifier/model.safetensors"}


def test_pretrained_backend_logs_no_classifier(tmp_path, write_smoke_config):
    config = write_smoke_config(tmp_path)
    study = Study(load_config(config, {"property.backend": "inception"}), progress=False)
    study.tracking()
    stages.publish_classifier(study)
    assert classifier_runs(study) == []
