"""Load a contributor dataset from a `DataConfig`.

Loading lists the images and hashes their content into the dataset digest.
When the cache has an entry for that digest, the preprocessed pixels come
from it. Otherwise every image is decoded and the entry is written. A cache
hit therefore costs one read and hash of each file but no decoding.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from diffusion_credit.config import DataConfig
from diffusion_credit.data.cache import cache_path, dataset_digest, hash_files, load_cache, save_cache
from diffusion_credit.data.cifar100 import CIFAR100_20_SOURCE, load_cifar100_20
from diffusion_credit.data.dataset import ContributorDataset
from diffusion_credit.data.errors import DatasetError
from diffusion_credit.data.images import (
    decode_images,
    default_num_workers,
    preprocess_arrays,
    preprocessing_settings,
    to_model_range,
)
from diffusion_credit.data.listing import MANIFEST_SUFFIXES, ImageListing, list_folder, list_manifest

__all__ = ["load_dataset", "resolve_data_path"]

logger = logging.getLogger(__name__)


def load_dataset(
    data_config: DataConfig, *, progress: bool = True, base_dir: str | Path | None = None
) -> ContributorDataset:
    """Load, validate and preprocess the contributor images that `data_config` names.

    Args:
        data_config: the data section. Its `path` is a folder of
            contributor subfolders, a CSV or Parquet manifest, or
            `cifar100-20`. The other fields are documented on `DataConfig`.
        progress: show tqdm bars while hashing and decoding.
        base_dir: a folder to resolve a relative `path` against when it does
            not exist relative to the working directory.

    Returns:
        The dataset, images float32 [N, C, resolution, resolution] in [-1, 1].

    Raises:
        DatasetError: on a missing path, no or unreadable images, an empty
            contributor, fewer than two contributors or an invalid manifest.
        ConfigError: on an invalid `data_config` value (from its `validate`).
    """
    data_config.validate()
    settings = preprocessing_settings(data_config.resolution, data_config.channels)
    cache_dir = Path(data_config.cache_dir).expanduser()
    workers = data_config.num_workers or default_num_workers()

    if data_config.path == CIFAR100_20_SOURCE:
        return _load_cifar100_20(data_config, settings, cache_dir, progress)

    source = resolve_data_path(data_config.path, base_dir)
    listing = _list_source(source, data_config.contributor_column).limit(data_config.max_images_per_contributor)
    contributors = _check_contributors(source, listing.contributor_of)
    labels = _labels(listing.contributor_of, contributors)

    hashes = hash_files(listing.files(), progress=progress)
    digest = dataset_digest(listing.paths, listing.contributor_of, hashes, listing.captions, settings)
    pixels = _cached_or_built(
        cache_path(cache_dir, digest),
        digest,
        labels,
        lambda: decode_images(
            listing.files(),
            data_config.resolution,
            data_config.channels,
            num_workers=workers,
            progress=progress,
        ),
    )
    return _build(pixels, labels, contributors, listing, digest, str(source), settings)


def resolve_data_path(path: str, base_dir: str | Path | None = None) -> Path:
    """Return the existing file or folder that `path` names.

    Raises:
        DatasetError: when neither `path` nor `base_dir / path` exists.
    """
    candidate = Path(path).expanduser()
    if candidate.exists():
        return candidate
    if base_dir is not None and not candidate.is_absolute() and (Path(base_dir) / candidate).exists():
        return Path(base_dir) / candidate
    beside = base_dir is not None and not candidate.is_absolute()
    tried = str(candidate.resolve()) + (f" and {Path(base_dir) / candidate}" if beside else "")
    raise DatasetError(
        f"data.path {path!r} does not exist (tried {tried}). Set data.path to a folder with one subfolder "
        f"per contributor, a CSV or Parquet manifest, or {CIFAR100_20_SOURCE!r}."
    )


def _list_source(source: Path, contributor_column: str) -> ImageListing:
    if source.is_dir():
        return list_folder(source)
    if source.suffix.lower() in MANIFEST_SUFFIXES:
        return list_manifest(source, contributor_column)
    raise DatasetError(
        f"data.path {str(source)!r} is a file but not a manifest ({', '.join(MANIFEST_SUFFIXES)}). "
        f"Pass a folder of contributor subfolders, a CSV or Parquet manifest, or {CIFAR100_20_SOURCE!r}."
    )


def _check_contributors(source: object, contributor_of: list[str]) -> list[str]:
    contributors = sorted(set(contributor_of))
    if len(contributors) < 2:
        raise DatasetError(
            f"{source} has {len(contributors)} contributor(s) ({', '.join(contributors) or 'none'}); "
            "a coalition game needs at least two. Add contributor subfolders or manifest rows."
        )
    return contributors


def _labels(contributor_of: list[str], contributors: list[str]) -> torch.Tensor:
    position = {name: index for index, name in enumerate(contributors)}
    return torch.tensor([position[name] for name in contributor_of], dtype=torch.int64)


def _cached_or_built(path: Path, digest: str, labels: torch.Tensor, build) -> torch.Tensor:
    cached = load_cache(path, digest, len(labels))
    if cached is not None and torch.equal(cached[1], labels):
        logger.info("Dataset %s: read %d preprocessed images from the cache %s.", digest, len(labels), path)
        return cached[0]

    pixels = build()
    try:
        save_cache(path, pixels, labels, digest)
        logger.info("Dataset %s: cached %d preprocessed images in %s.", digest, len(labels), path)
    except OSError as error:
        logger.warning("Cannot write the dataset cache %s (%s); the next load decodes again.", path, error)
    return pixels


def _load_cifar100_20(
    data_config: DataConfig, settings: dict[str, object], cache_dir: Path, progress: bool
) -> ContributorDataset:
    paths, contributor_of, arrays = load_cifar100_20(
        cache_dir / "torchvision", data_config.max_images_per_contributor
    )
    listing = ImageListing(root=cache_dir / "torchvision", paths=paths, contributor_of=contributor_of, captions=None)
    contributors = _check_contributors(CIFAR100_20_SOURCE, contributor_of)
    labels = _labels(contributor_of, contributors)

    hashes = [hashlib.sha256(array.tobytes()).hexdigest() for array in arrays]
    digest = dataset_digest(paths, contributor_of, hashes, None, settings)
    pixels = _cached_or_built(
        cache_path(cache_dir, digest),
        digest,
        labels,
        lambda: preprocess_arrays(arrays, data_config.resolution, data_config.channels, progress=progress),
    )
    return _build(pixels, labels, contributors, listing, digest, CIFAR100_20_SOURCE, settings)


def _build(
    pixels: torch.Tensor,
    labels: torch.Tensor,
    contributors: list[str],
    listing: ImageListing,
    digest: str,
    source: str,
    settings: dict[str, object],
) -> ContributorDataset:
    dataset = ContributorDataset(
        images=to_model_range(pixels),
        labels=labels,
        contributors=contributors,
        paths=list(listing.paths),
        captions=listing.captions,
        digest=digest,
        source=source,
        settings=settings,
    )
    logger.info("Loaded %r.", dataset)
    return dataset
