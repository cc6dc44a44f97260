"""Decoding and preprocessing of contributor images.

Each image is decoded with Pillow, turned upright by its EXIF orientation,
converted to RGB (`channels=3`) or luma L (`channels=1`), resized so that its
shorter side equals the resolution (bicubic, antialiased when shrinking) and
center-cropped to a square. Alpha is dropped without compositing. The result
is uint8; `to_model_range` maps it to float32 in [-1, 1].
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from diffusion_credit.data.errors import DatasetError

__all__ = [
    "PREPROCESSING_VERSION",
    "preprocessing_settings",
    "preprocess_image",
    "decode_image",
    "decode_images",
    "preprocess_arrays",
    "to_model_range",
    "default_num_workers",
]

logger = logging.getLogger(__name__)

PREPROCESSING_VERSION = 1
_CHUNK_SIZE = 256
_MAX_NAMED = 5
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def preprocessing_settings(resolution: int, channels: int) -> dict[str, object]:
    """Return the settings that determine the preprocessed pixels (part of the dataset digest)."""
    return {
        "version": PREPROCESSING_VERSION,
        "resolution": resolution,
        "channels": channels,
        "resize": "shorter-side-bicubic",
        "crop": "center",
        "exif_transpose": True,
    }


def preprocess_image(image: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """Convert, resize and center-crop one decoded image.

    Args:
        image: a loaded Pillow image of any size and mode.
        resolution: the output height and width in pixels.
        channels: 3 for RGB, 1 for luma (L).

    Returns:
        uint8 array [resolution, resolution, channels].
    """
    image = ImageOps.exif_transpose(image)
    target_mode = "RGB" if channels == 3 else "L"
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode != target_mode:
        image = image.convert(target_mode)

    width, height = image.size
    scale = resolution / min(width, height)
    size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)

    left = (size[0] - resolution) // 2
    top = (size[1] - resolution) // 2
    if size != (resolution, resolution):
        image = image.crop((left, top, left + resolution, top + resolution))

    pixels = np.array(image, dtype=np.uint8)
    return pixels.reshape(resolution, resolution, channels)


def decode_image(path: str | Path, resolution: int, channels: int) -> np.ndarray:
    """Decode and preprocess one image file.

    Returns:
        uint8 array [resolution, resolution, channels].

    Raises:
        DatasetError: when the file cannot be read or decoded.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return preprocess_image(image, resolution, channels)
    except _DECODE_ERRORS as error:
        raise DatasetError(f"Cannot decode image {path}: {error}. Replace or remove the file.") from error


def decode_images(
    files: list[str] | list[Path],
    resolution: int,
    channels: int,
    *,
    num_workers: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Decode and preprocess image files with a bounded thread pool.

    Every file is tried before an error is raised, so one error lists all
    unreadable files (the first few by name).

    Args:
        files: the image files, in dataset order.
        resolution: the output height and width in pixels.
        channels: 3 for RGB, 1 for luma (L).
        num_workers: decoding threads; None picks `default_num_workers()`.
        progress: show a tqdm bar.

    Returns:
        uint8 tensor [N, channels, resolution, resolution], in `files` order.

    Raises:
        DatasetError: naming the files that cannot be decoded.
    """
    pixels = np.empty((len(files), resolution, resolution, channels), dtype=np.uint8)
    chunks = [range(start, min(start + _CHUNK_SIZE, len(files))) for start in range(0, len(files), _CHUNK_SIZE)]
    workers = num_workers or default_num_workers()
    failures: list[tuple[str | Path, str]] = []

    def decode_chunk(indices: range) -> list[tuple[str | Path, str]]:
        chunk_failures: list[tuple[str | Path, str]] = []
        for index in indices:
            try:
                pixels[index] = decode_image(files[index], resolution, channels)
            except DatasetError as error:
                chunk_failures.append((files[index], str(error.__cause__ or error)))
        return chunk_failures

    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(files), desc="Decoding images", unit="img", disable=not progress
    ) as bar:
        futures = {pool.submit(decode_chunk, chunk): len(chunk) for chunk in chunks}
        for future in as_completed(futures):
            failures.extend(future.result())
            bar.update(futures[future])

    if failures:
        _raise_decode_failures(failures)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def _raise_decode_failures(failures: list[tuple[str | Path, str]]) -> None:
    failures.sort(key=lambda failure: str(failure[0]))
    named = "; ".join(f"{path}: {reason}" for path, reason in failures[:_MAX_NAMED])
    raise DatasetError(
        f"Cannot decode {len(failures)} image file(s): {named}. Replace or remove these files and load again."
    )


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels [N, C, H, W] in [0, 255] to float32 in [-1, 1]."""
    return pixels.to(torch.float32).div_(127.5).sub_(1.0)


def default_num_workers() -> int:
    """Return the default number of decoding threads: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def preprocess_arrays(arrays: np.ndarray, resolution: int, channels: int, *, progress: bool = True) -> torch.Tensor:
    """Preprocess already decoded images, e.g. CIFAR-100's uint8 arrays.

    Args:
        arrays: uint8 [N, H, W, 3] RGB images.
        resolution: the output height and width in pixels.
        channels: 3 for RGB, 1 for luma (L).
        progress: show a tqdm bar.

    Returns:
        uint8 tensor [N, channels, resolution, resolution].
    """
    pixels = np.empty((len(arrays), resolution, resolution, channels), dtype=np.uint8)
    for index in tqdm(range(len(arrays)), desc="Preprocessing images", unit="img", disable=not progress):
        pixels[index] = preprocess_image(Image.fromarray(arrays[index]), resolution, channels)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
