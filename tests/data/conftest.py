"""Builders of small contributor folders and configs from the example JPEGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diffusion_credit.config import DataConfig


@pytest.fixture()
def make_folder(example_data_dir: Path, tmp_path: Path):
    """Return a builder that copies example JPEGs into `tmp_path/<folder>/<contributor>/`.

    The builder takes `names` (example class -> contributor folder name) and
    `per_contributor` (the first K JPEGs of each class) and returns the root.
    """

    def build(names: dict[str, str], per_contributor: int = 3, folder: str = "contributors") -> Path:
        root = tmp_path / folder
        for source_name, contributor in names.items():
            target = root / contributor
            target.mkdir(parents=True, exist_ok=True)
            for image in sorted((example_data_dir / source_name).glob("*.jpg"))[:per_contributor]:
                shutil.copy2(image, target / image.name)
        return root

    return build


@pytest.fixture()
def make_config(tmp_path: Path):
    """Return a builder of 8x8 DataConfigs whose cache lives in `tmp_path/cache`."""

    def build(path: Path | str, **overrides) -> DataConfig:
        values = {"path": str(path), "resolution": 8, "cache_dir": str(tmp_path / "cache"), "num_workers": 2}
        values.update(overrides)
        return DataConfig(**values)

    return build
