"""Tests for the in-project contributor classifier (the `study` backend)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from diffusion_credit.properties import classifier as classifier_module
from diffusion_credit.properties.classifier import ClassifierSettings, load_or_train_classifier

SETTINGS = ClassifierSettings(steps=60, batch_size=32)


@pytest.fixture(scope="module")
def trained(study_images, tmp_path_factory):
    cache = tmp_path_factory.mktemp("classifier-cache")
    return load_or_train_classifier(study_images, SETTINGS, cache_dir=cache, progress=False), cache


def test_classifier_fits_training_images(trained, study_images):
    classifier, _ = trained
    predicted = classifier.predict_proba(study_images.images).argmax(dim=1)
    accuracy = (predicted == study_images.labels).float().mean().item()
    assert accuracy > 0.6, f"training accuracy {accuracy:.2f} is near chance (1/3)"


def test_classifier_reports_holdout_accuracy(trained):
    classifier, _ = trained
    assert classifier.holdout_accuracy is not None
    assert 0.0 <= classifier.holdout_accuracy <= 1.0


def test_classifier_outputs_shapes(trained, study_images):
    classifier, _ = trained
    probs = classifier.predict_proba(study_images.images[:5])
    features = classifier.features(study_images.images[:5])
    assert probs.shape == (5, 3)
    assert torch.allclose(probs.sum(dim=1), torch.ones(5), atol=1e-5)
    assert features.shape == (5, SETTINGS.widths[-1])


def test_second_build_loads_cache(trained, study_images, monkeypatch):
    classifier, cache = trained

    def fail(*args, **kwargs):
        raise AssertionError("the second build trained again instead of loading the cache")

    monkeypatch.setattr(classifier_module, "train_classifier", fail)
    reloaded = load_or_train_classifier(study_images, SETTINGS, cache_dir=cache, progress=False)
    assert reloaded.digest == classifier.digest
    assert reloaded.holdout_accuracy == classifier.holdout_accuracy
    assert torch.equal(reloaded.predict_proba(study_images.images), classifier.predict_proba(study_images.images))
    assert (cache / "classifiers" / classifier.digest / "model.safetensors").is_file()


def test_incomplete_entry_is_rewritten(study_images, tmp_path):
    settings = ClassifierSettings(steps=2)
    first = load_or_train_classifier(study_images, settings, cache_dir=tmp_path, progress=False)
    entry = tmp_path / "classifiers" / first.digest
    (entry / "meta.json").unlink()

    load_or_train_classifier(study_images, settings, cache_dir=tmp_path, progress=False)

    assert classifier_module.entry_is_complete(entry)
    assert sorted(path.name for path in entry.parent.iterdir()) == [first.digest]


def test_training_is_deterministic(study_images, tmp_path):
    settings = ClassifierSettings(steps=6, batch_size=16)
    first = load_or_train_classifier(study_images, settings, cache_dir=tmp_path / "a", progress=False)
    second = load_or_train_classifier(study_images, settings, cache_dir=tmp_path / "b", progress=False)
    first_state = load_file(tmp_path / "a" / "classifiers" / first.digest / "model.safetensors")
    second_state = load_file(tmp_path / "b" / "classifiers" / second.digest / "model.safetensors")
    assert first_state.keys() == second_state.keys()
    for name in first_state:
        assert torch.equal(first_state[name], second_state[name]), name


def test_cache_key_changes_with_settings(study_images, trained, tmp_path, monkeypatch):
    classifier, _ = trained
    calls = []
    real_train = classifier_module.train_classifier

    def counting_train(*args, **kwargs):
        calls.append(args[3])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(classifier_module, "train_classifier", counting_train)
    other = load_or_train_classifier(study_images, ClassifierSettings(steps=2, seed=1), cache_dir=tmp_path, progress=False)
    assert other.digest != classifier.digest
    assert len(calls) == 1


def test_classifier_rejects_uint8(trained, study_images):
    classifier, _ = trained
    pixels = ((study_images.images + 1) * 127.5).to(torch.uint8)
    with pytest.raises(TypeError, match="float images in \\[-1, 1\\]"):
        classifier.predict_proba(pixels)


def test_classifier_rejects_wrong_resolution(trained):
    classifier, _ = trained
    with pytest.raises(ValueError, match="study's channels and resolution"):
        classifier.features(torch.zeros(2, 3, 32, 32))


def test_classifier_rejects_nan(trained):
    classifier, _ = trained
    images = torch.zeros(2, 3, 16, 16)
    images[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        classifier.predict_proba(images)


def test_classifier_rejects_unit_range_overflow(trained):
    classifier, _ = trained
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        classifier.predict_proba(torch.full((2, 3, 16, 16), 200.0))


def test_settings_validation():
    with pytest.raises(ValueError, match="holdout_fraction"):
        ClassifierSettings(holdout_fraction=1.0).validate()
    with pytest.raises(ValueError, match="steps"):
        ClassifierSettings(steps=0).validate()
