"""Content digests of contributor datasets and the on-disk pixel cache.

The digest of a dataset covers, in canonical order, each image's relative
path, contributor and SHA-256 of its file content, the captions, and the
preprocessing settings. Content hashes rather than sizes and modification
times make the digest equal for every copy of the same files (a fresh git
clone, a CI checkout) and make any edit of a file a cache miss. Hashing
costs about 15 µs per small JPEG, against about 150 µs to decode one.

The cache stores the preprocessed uint8 pixels and labels of one digest in
`<cache_dir>/datasets/<digest>.safetensors`. It is written to a temporary
file in the same folder and renamed into place, so a killed load never
leaves a partial entry that a later load would trust. An entry that cannot
be read or does not match is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

__all__ = ["CACHE_FORMAT_VERSION", "hash_file", "hash_files", "dataset_digest", "cache_path", "save_cache", "load_cache"]

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
DIGEST_LENGTH = 16


def hash_file(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's content, read whole (images are small)."""
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def hash_files(files: list[str] | list[Path], *, progress: bool = False) -> list[str]:
    """Return the SHA-256 hex digest of each file, in order.

    Hashing runs in one thread because a thread pool's per-task overhead
    exceeds the hashing time of a small image.
    """
    return [hash_file(path) for path in tqdm(files, desc="Hashing images", unit="file", disable=not progress)]


def dataset_digest(
    paths: list[str],
    contributor_of: list[str],
    content_hashes: list[str],
    captions: list[str] | None,
    settings: dict[str, object],
) -> str:
    """Return the content digest of a dataset (16 hex characters).

    Args:
        paths: relative paths, in dataset order.
        contributor_of: the contributor name of each path.
        content_hashes: the SHA-256 of each file's content (or of its pixels).
        captions: one caption per path, or None.
        settings: the preprocessing settings (resolution, channels, ...).
    """
    hasher = hashlib.sha256()
    header = {"format": CACHE_FORMAT_VERSION, "settings": settings, "captions": captions is not None}
    hasher.update(json.dumps(header, sort_keys=True).encode())
    for index, path in enumerate(paths):
        record = [contributor_of[index], path, content_hashes[index]]
        if captions is not None:
            record.append(captions[index])
        hasher.update(json.dumps(record).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()[:DIGEST_LENGTH]


def cache_path(cache_dir: Path, digest: str) -> Path:
    """Return the cache file of a dataset digest."""
    return cache_dir / "datasets" / f"{digest}.safetensors"


def save_cache(path: Path, pixels: torch.Tensor, labels: torch.Tensor, digest: str) -> None:
    """Write pixels and labels atomically (temporary file, then rename).

    Args:
        path: the cache file, as `cache_path` returns.
        pixels: uint8 [N, C, H, W].
        labels: int64 [N].
        digest: the dataset digest, stored in the metadata and checked on load.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": str(CACHE_FORMAT_VERSION), "digest": digest}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file({"pixels": pixels.contiguous(), "labels": labels.contiguous()}, temporary, metadata=metadata)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_cache(path: Path, digest: str, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Read a cache entry, or return None when it is absent, unreadable or does not match.

    Args:
        path: the cache file.
        digest: the expected dataset digest.
        count: the expected number of images.

    Returns:
        (uint8 pixels [N, C, H, W], int64 labels [N]) or None.
    """
    if not path.is_file():
        return None
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (OSError, ValueError, SafetensorError) as error:
        logger.warning("Ignoring unreadable dataset cache %s (%s); decoding the images again.", path, error)
        return None

    pixels, labels = tensors.get("pixels"), tensors.get("labels")
    valid = (
        metadata.get("digest") == digest
        and metadata.get("format") == str(CACHE_FORMAT_VERSION)
        and pixels is not None
        and labels is not None
        and pixels.dtype == torch.uint8
        and pixels.shape[0] == count
        and labels.shape == (count,)
    )
    if not valid:
        logger.warning("Ignoring dataset cache %s: it does not match digest %s; decoding the images again.", path, digest)
        return None
    return pixels, labels
