"""Fixtures for the global property tests: a few real example images as a study dataset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "cifar10-mini"
SHARED = (REPO / ".." / "shared").resolve()
AESTHETIC = SHARED / "weights" / "laion-aesthetic"


@dataclass
class StudyImages:
    """The fields of a ContributorDataset that the properties read."""

    images: torch.Tensor
    labels: torch.Tensor
    contributors: list[str]
    digest: str


def load_examples(classes: list[str], per_class: int, resolution: int = 16) -> StudyImages:
    """Load the first `per_class` images of each class, resized, as floats in [-1, 1]."""
    arrays, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((EXAMPLES / name).glob("*.jpg"))[:per_class]:
            image = Image.open(path).convert("RGB").resize((resolution, resolution), Image.BICUBIC)
            arrays.append(np.asarray(image))
            labels.append(label)
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    images = pixels.float() / 127.5 - 1
    digest = hashlib.sha256(pixels.numpy().tobytes() + repr(classes).encode()).hexdigest()[:16]
    return StudyImages(images, torch.tensor(labels), list(classes), digest)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Convert [-1, 1] floats to uint8 pixels."""
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="session")
def study_images() -> StudyImages:
    """Three real CIFAR-10 classes, 16 images each, at 16x16."""
    return load_examples(["airplane", "frog", "truck"], per_class=16)


@pytest.fixture(scope="session")
def property_cache(tmp_path_factory) -> Path:
    """A cache folder shared by the tests of one session, so the classifier trains once."""
    return tmp_path_factory.mktemp("property-cache")


@pytest.fixture(scope="session")
def study_config():
    """A study-backend property config with a short classifier training."""
    from diffusion_credit.config import PropertyConfig

    return PropertyConfig(classifier_steps=60, batch_size=32)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Run each test module on one intra-op thread: the tiny models here are slower with contended threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
