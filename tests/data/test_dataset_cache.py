import logging
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from diffusion_credit.data import load_dataset
from diffusion_credit.data import cache as cache_module
from diffusion_credit.data.cache import cache_path, load_cache, save_cache


@pytest.fixture()
def folder(make_folder):
    return make_folder({"cat": "a", "dog": "b", "ship": "c"}, per_contributor=4)


def _count_decodes(monkeypatch):
    calls = []
    original = Image.open

    def counting_open(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    return calls


def test_second_load_decodes_nothing(folder, make_config, monkeypatch):
    calls = _count_decodes(monkeypatch)
    first = load_dataset(make_config(folder), progress=False)
    assert len(calls) == 12

    def no_decode(*args, **kwargs):
        raise AssertionError(f"PIL decode called on a cache hit: {args[0]}")

    monkeypatch.setattr(Image, "open", no_decode)
    second = load_dataset(make_config(folder), progress=False)

    assert second.digest == first.digest
    assert torch.equal(second.images, first.images)
    assert torch.equal(second.labels, first.labels)
    assert cache_path(Path(make_config(folder).cache_dir), first.digest).is_file()


def test_changed_content_misses_cache(folder, make_config, monkeypatch):
    first = load_dataset(make_config(folder), progress=False)
    target = folder / "b" / "0001.jpg"
    stat = target.stat()
    (folder / "c" / "0000.jpg").replace(target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    calls = _count_decodes(monkeypatch)

    second = load_dataset(make_config(folder), progress=False)

    assert second.digest != first.digest
    assert len(calls) == 11


def test_touched_file_keeps_digest(folder, make_config):
    first = load_dataset(make_config(folder), progress=False)
    os.utime(folder / "a" / "0000.jpg", ns=(1, 1))

    second = load_dataset(make_config(folder), progress=False)

    assert second.digest == first.digest


def test_preprocessing_settings_change_digest(folder, make_config):
    base = load_dataset(make_config(folder), progress=False)
    larger = load_dataset(make_config(folder, resolution=16), progress=False)
    gray = load_dataset(make_config(folder, channels=1), progress=False)
    fewer = load_dataset(make_config(folder, max_images_per_contributor=2), progress=False)

    assert len({base.digest, larger.digest, gray.digest, fewer.digest}) == 4
    assert gray.images.shape == (12, 1, 8, 8)


def test_digest_independent_of_cache_dir_and_location(folder, make_config, tmp_path):
    first = load_dataset(make_config(folder), progress=False)
    moved = folder.rename(tmp_path / "moved")

    second = load_dataset(make_config(moved, cache_dir=str(tmp_path / "other-cache")), progress=False)

    assert second.digest == first.digest


def test_corrupt_cache_rebuilt(folder, make_config, tmp_path, caplog):
    first = load_dataset(make_config(folder), progress=False)
    entry = cache_path(tmp_path / "cache", first.digest)
    entry.write_bytes(b"\x00" * 64)

    with caplog.at_level(logging.WARNING, logger="diffusion_credit.data.cache"):
        second = load_dataset(make_config(folder), progress=False)

    assert "Ignoring unreadable dataset cache" in caplog.text
    assert torch.equal(second.images, first.images)
    assert load_cache(entry, first.digest, 12) is not None


def test_cache_for_other_digest_ignored(tmp_path):
    entry = tmp_path / "entry.safetensors"
    save_cache(entry, torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), "aaaa")

    assert load_cache(entry, "aaaa", 2) is not None
    assert load_cache(entry, "bbbb", 2) is None
    assert load_cache(entry, "aaaa", 3) is None


def test_failed_cache_write_leaves_nothing(tmp_path, monkeypatch):
    entry = tmp_path / "datasets" / "abc.safetensors"

    def failing_save(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module, "save_file", failing_save)

    with pytest.raises(OSError, match="disk full"):
        save_cache(entry, torch.zeros(1, 1, 2, 2, dtype=torch.uint8), torch.tensor([0]), "abc")

    assert list(entry.parent.iterdir()) == []


def test_unwritable_cache_dir_still_loads(folder, make_config, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")

    with caplog.at_level(logging.WARNING, logger="diffusion_credit.data.loader"):
        dataset = load_dataset(make_config(folder, cache_dir=str(blocker)), progress=False)

    assert len(dataset) == 12
    assert "Cannot write the dataset cache" in caplog.text
