import logging
import shutil

import pytest

from diffusion_credit.data import DatasetError, load_dataset
from diffusion_credit.data.listing import list_folder
from diffusion_credit.data.loader import resolve_data_path


def test_folder_lists_sorted_contributors_and_paths(make_folder):
    root = make_folder({"truck": "zoe", "cat": "alice", "ship": "bob"}, per_contributor=3)

    listing = list_folder(root)

    assert listing.contributor_of == ["alice"] * 3 + ["bob"] * 3 + ["zoe"] * 3
    assert listing.paths[:3] == ["alice/0000.jpg", "alice/0001.jpg", "alice/0002.jpg"]
    assert listing.captions is None


def test_folder_accepts_extensions_in_any_case(make_folder):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    (root / "a" / "0000.jpg").rename(root / "a" / "upper.JPG")
    (root / "b" / "0000.jpg").rename(root / "b" / "mixed.JpEg")

    listing = list_folder(root)

    assert "a/upper.JPG" in listing.paths
    assert "b/mixed.JpEg" in listing.paths
    assert len(listing.paths) == 4


def test_folder_ignores_hidden_and_root_files(make_folder):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    shutil.copy(root / "a" / "0000.jpg", root / "a" / ".hidden.jpg")
    (root / ".git").mkdir()
    shutil.copy(root / "a" / "0000.jpg", root / ".git" / "x.jpg")
    (root / "a" / ".ipynb_checkpoints").mkdir()
    (root / "PROVENANCE.md").write_text("not an image")
    shutil.copy(root / "a" / "0000.jpg", root / "loose.jpg")

    listing = list_folder(root)

    assert sorted(set(listing.contributor_of)) == ["a", "b"]
    assert len(listing.paths) == 4


def test_folder_skips_other_files_with_warning(make_folder, caplog):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    (root / "a" / "notes.txt").write_text("hello")

    with caplog.at_level(logging.WARNING, logger="diffusion_credit.data.listing"):
        listing = list_folder(root)

    assert len(listing.paths) == 4
    assert "notes.txt" in caplog.text


def test_folder_rejects_nested_subfolder(make_folder):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    (root / "a" / "more").mkdir()

    with pytest.raises(DatasetError, match=r"contains the subfolder 'more'"):
        list_folder(root)


def test_folder_rejects_empty_contributor(make_folder, make_config):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("no images here")

    with pytest.raises(DatasetError, match=r"empty has no images"):
        load_dataset(make_config(root), progress=False)


def test_folder_without_contributor_folders(tmp_path, make_config):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"")

    with pytest.raises(DatasetError, match=r"No contributor folders in .*flat"):
        load_dataset(make_config(tmp_path / "flat"), progress=False)


def test_folder_with_one_contributor_rejected(make_folder, make_config):
    root = make_folder({"cat": "only"}, per_contributor=2)

    with pytest.raises(DatasetError, match=r"1 contributor\(s\) \(only\).*at least two"):
        load_dataset(make_config(root), progress=False)


def test_folder_corrupt_image_named(make_folder, make_config):
    root = make_folder({"cat": "a", "dog": "b"}, per_contributor=2)
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    good = (root / "a" / "0000.jpg").read_bytes()
    (root / "a" / "truncated.jpg").write_bytes(good[: len(good) // 2])

    with pytest.raises(DatasetError, match=r"Cannot decode 2 image file\(s\)") as raised:
        load_dataset(make_config(root), progress=False)

    assert "broken.jpg" in str(raised.value)
    assert "truncated.jpg" in str(raised.value)


def test_missing_path_named(tmp_path, make_config):
    missing = tmp_path / "nowhere"

    with pytest.raises(DatasetError, match=r"data.path .*nowhere.* does not exist"):
        load_dataset(make_config(missing), progress=False)


def test_relative_path_resolved_against_base_dir(make_folder, make_config, tmp_path):
    make_folder({"cat": "a", "dog": "b"}, per_contributor=1, folder="relative-data")

    dataset = load_dataset(make_config("relative-data"), progress=False, base_dir=tmp_path)

    assert dataset.contributors == ["a", "b"]


def test_non_manifest_file_rejected(tmp_path, make_config):
    path = tmp_path / "images.zip"
    path.write_bytes(b"PK")

    with pytest.raises(DatasetError, match=r"is a file but not a manifest"):
        load_dataset(make_config(path), progress=False)


def test_missing_absolute_path_is_named_once(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as raised:
        resolve_data_path(str(missing), base_dir=tmp_path / "configs")
    assert f"(tried {missing})" in str(raised.value)
