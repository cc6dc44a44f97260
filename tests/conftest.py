"""Fixtures shared by all test folders: the repository, its example data and the shared data."""

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def example_data_dir(repo_root: Path) -> Path:
    """The embedded CIFAR-10 sample: 10 contributor folders of 100 JPEGs."""
    return repo_root / "examples" / "cifar10-mini"


@pytest.fixture(scope="session")
def shared_dir(repo_root: Path) -> Path:
    """The read-only shared data beside the repository; skips the test when absent."""
    shared = repo_root.parent / "shared"
    if not shared.is_dir():
        pytest.skip(f"shared data folder {shared} is absent")
    return shared


@pytest.fixture(scope="session")
def write_smoke_config(repo_root: Path):
    """Return a function that writes configs/smoke.yaml into a folder, with absolute data,
    cache and run-store paths inside that folder and optional section overrides."""

    def write(folder: Path, **sections) -> Path:
        config = yaml.safe_load((repo_root / "configs" / "smoke.yaml").read_text())
        config["data"]["path"] = str(repo_root / "examples" / "smoke" / "manifest.csv")
        config["data"]["cache_dir"] = str(folder / "cache")
        config["tracking"] = {"uri": f"sqlite:///{folder / 'mlflow.db'}"}
        config.update(sections)
        path = folder / "smoke.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return write
