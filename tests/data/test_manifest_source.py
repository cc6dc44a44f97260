import pandas as pd
import pytest

from diffusion_credit.data import DatasetError, load_dataset
from diffusion_credit.data.listing import list_manifest


@pytest.fixture()
def manifest_rows(make_folder):
    """A folder of 3 contributors x 2 JPEGs and its rows, in shuffled order."""
    root = make_folder({"cat": "alice", "dog": "bob", "ship": "carol"}, per_contributor=2, folder="data")
    rows = [
        {"path": f"{name}/{image}", "contributor": name, "caption": f"a photo by {name}"}
        for name in ("carol", "alice", "bob")
        for image in ("0001.jpg", "0000.jpg")
    ]
    return root, rows


def test_csv_manifest_sorted_with_captions(manifest_rows):
    root, rows = manifest_rows
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)

    listing = list_manifest(manifest)

    assert listing.contributor_of == ["alice", "alice", "bob", "bob", "carol", "carol"]
    assert listing.paths[:2] == ["alice/0000.jpg", "alice/0001.jpg"]
    assert listing.captions[0] == "a photo by alice"
    assert listing.root == root


def test_parquet_manifest_matches_csv(manifest_rows):
    root, rows = manifest_rows
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet", index=False)

    from_csv = list_manifest(root / "manifest.csv")
    from_parquet = list_manifest(root / "manifest.parquet")

    assert from_parquet == from_csv


def test_manifest_and_folder_share_digest(manifest_rows, make_config):
    root, rows = manifest_rows
    pd.DataFrame(rows).drop(columns="caption").to_csv(root / "manifest.csv", index=False)

    from_folder = load_dataset(make_config(root), progress=False)
    from_manifest = load_dataset(make_config(root / "manifest.csv"), progress=False)

    assert from_manifest.digest == from_folder.digest
    assert from_manifest.paths == from_folder.paths
    assert from_manifest.captions is None


def test_manifest_integer_contributor_column(manifest_rows, make_config):
    root, rows = manifest_rows
    ids = {"alice": 7204, "bob": 10, "carol": 900}
    table = pd.DataFrame({"path": [row["path"] for row in rows], "identity": [ids[row["contributor"]] for row in rows]})
    table.to_parquet(root / "ids.parquet", index=False)
    table.to_csv(root / "ids.csv", index=False)

    for name in ("ids.parquet", "ids.csv"):
        dataset = load_dataset(make_config(root / name, contributor_column="identity"), progress=False)

        assert dataset.contributors == ["10", "7204", "900"]
        assert dataset.counts == {"10": 2, "7204": 2, "900": 2}


def test_manifest_keeps_leading_zeros(manifest_rows):
    root, rows = manifest_rows
    lines = ["path,contributor"] + [f"{row['path']},00{index % 3}" for index, row in enumerate(rows)]
    (root / "zeros.csv").write_text("\n".join(lines) + "\n")

    listing = list_manifest(root / "zeros.csv")

    assert sorted(set(listing.contributor_of)) == ["000", "001", "002"]


def test_manifest_missing_column(manifest_rows, make_config):
    root, rows = manifest_rows
    pd.DataFrame(rows).drop(columns="contributor").to_csv(root / "manifest.csv", index=False)

    with pytest.raises(DatasetError, match=r"lacks the column\(s\) contributor.*data.contributor_column"):
        load_dataset(make_config(root / "manifest.csv"), progress=False)


def test_manifest_duplicate_paths(manifest_rows):
    root, rows = manifest_rows
    rows.append({"path": "./alice/0000.jpg", "contributor": "bob", "caption": ""})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)

    with pytest.raises(DatasetError, match=r"lists 1 path\(s\) more than once, e.g. alice/0000.jpg"):
        list_manifest(root / "manifest.csv")


def test_manifest_missing_files(manifest_rows):
    root, rows = manifest_rows
    rows.append({"path": "alice/9999.jpg", "contributor": "alice", "caption": ""})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)

    with pytest.raises(DatasetError, match=r"references 1 missing file\(s\), e.g. alice/9999.jpg"):
        list_manifest(root / "manifest.csv")


def test_manifest_empty_contributor_cell(manifest_rows):
    root, rows = manifest_rows
    rows[3]["contributor"] = ""
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)

    with pytest.raises(DatasetError, match=r"1 empty 'contributor' cell\(s\), e.g. on line\(s\) 5"):
        list_manifest(root / "manifest.csv")


def test_manifest_without_rows(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,contributor\n")

    with pytest.raises(DatasetError, match=r"has no rows"):
        list_manifest(tmp_path / "manifest.csv")


def test_manifest_unreadable_parquet(tmp_path):
    (tmp_path / "manifest.parquet").write_text("path,contributor\n")

    with pytest.raises(DatasetError, match=r"Cannot read manifest .*manifest.parquet"):
        list_manifest(tmp_path / "manifest.parquet")


def test_manifest_one_contributor_rejected(manifest_rows, make_config):
    root, rows = manifest_rows
    pd.DataFrame([row for row in rows if row["contributor"] == "bob"]).to_csv(root / "manifest.csv", index=False)

    with pytest.raises(DatasetError, match=r"1 contributor\(s\) \(bob\)"):
        load_dataset(make_config(root / "manifest.csv"), progress=False)


def test_celeba_identity_manifest(shared_dir, make_config):
    manifest = shared_dir / "data" / "celeba-identities" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is absent")
    table = pd.read_csv(manifest, dtype=str)

    config = make_config(manifest, contributor_column="identity", max_images_per_contributor=2)
    dataset = load_dataset(config, progress=False)

    assert dataset.contributors == sorted(table["identity"].unique())
    assert len(dataset.contributors) == 50
    assert set(dataset.counts.values()) == {2}
    assert dataset.images.shape == (100, 3, 8, 8)
    first = table[table["identity"] == dataset.contributors[0]]["path"].sort_values().tolist()[:2]
    assert dataset.paths[:2] == first
