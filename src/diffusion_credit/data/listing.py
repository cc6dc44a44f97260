"""Discovery of contributor images in a folder or a manifest.

A listing is the list of image files with their contributor, in canonical
order: sorted by contributor name, then by relative path. Folder and
manifest sources that describe the same files give the same listing, so they
share one digest and one cache entry.

Folder layout: `root/<contributor>/<image>` with the extensions in
`IMAGE_EXTENSIONS` (any case). Hidden files and folders (names starting with
`.`) and files directly in `root` are ignored. Other files in a contributor
folder are skipped with a warning. A folder nested inside a contributor
folder is rejected, because silently dropping its images would train on less
data than the user put there.

Manifest: a CSV or Parquet table with a `path` column, a contributor column
(`contributor` by default) and an optional `caption` column. Relative paths
are resolved against the manifest's folder. Every row must name an existing
file, so a manifest contributor always has at least one image. A missing
file is an error, never a silently dropped row.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from diffusion_credit.data.errors import DatasetError

__all__ = ["IMAGE_EXTENSIONS", "MANIFEST_SUFFIXES", "ImageListing", "list_folder", "list_manifest"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")
_MAX_NAMED = 5


@dataclass(frozen=True)
class ImageListing:
    """Image files with their contributors, in canonical order.

    Attributes:
        root: the folder that `paths` are relative to.
        paths: POSIX paths relative to `root` (absolute where a manifest gave
            a file outside its folder), sorted by (contributor, path).
        contributor_of: the contributor name of each entry of `paths`.
        captions: one caption per entry of `paths`, or None.
    """

    root: Path
    paths: list[str]
    contributor_of: list[str]
    captions: list[str] | None

    def files(self) -> list[str]:
        """Return the file of each entry of `paths` (joined as strings, which is faster than pathlib)."""
        root = str(self.root)
        return [os.path.join(root, path) for path in self.paths]

    def limit(self, max_per_contributor: int | None) -> ImageListing:
        """Keep the first `max_per_contributor` paths of each contributor (all when None)."""
        if max_per_contributor is None:
            return self
        seen: Counter[str] = Counter()
        keep = []
        for index, name in enumerate(self.contributor_of):
            seen[name] += 1
            if seen[name] <= max_per_contributor:
                keep.append(index)
        return self._take(keep)

    def _take(self, keep: list[int]) -> ImageListing:
        captions = None if self.captions is None else [self.captions[i] for i in keep]
        return ImageListing(
            root=self.root,
            paths=[self.paths[i] for i in keep],
            contributor_of=[self.contributor_of[i] for i in keep],
            captions=captions,
        )


def list_folder(root: Path) -> ImageListing:
    """List `root/<contributor>/<image>` files.

    Raises:
        DatasetError: when a contributor folder is empty or contains a nested
            folder, or when `root` has no contributor folder at all.
    """
    folders = sorted(Path(entry.path) for entry in os.scandir(root) if entry.is_dir() and not _is_hidden(entry))
    if not folders:
        raise DatasetError(
            f"No contributor folders in {root}. Put each contributor's images in a subfolder "
            "named after the contributor, e.g. root/alice/0001.jpg."
        )

    entries: list[tuple[str, str]] = []
    skipped: list[Path] = []
    for folder in folders:
        images = _list_contributor_folder(folder, skipped)
        entries.extend((folder.name, f"{folder.name}/{name}") for name in images)

    if skipped:
        named = ", ".join(str(p) for p in skipped[:_MAX_NAMED])
        logger.warning(
            "Skipped %d files whose extension is not one of %s: %s", len(skipped), ", ".join(IMAGE_EXTENSIONS), named
        )
    return _sorted_listing(root, entries, captions=None)


def _list_contributor_folder(folder: Path, skipped: list[Path]) -> list[str]:
    images = []
    for entry in os.scandir(folder):
        if _is_hidden(entry):
            continue
        if entry.is_dir():
            raise DatasetError(
                f"Contributor folder {folder} contains the subfolder {entry.name!r}; images must sit directly "
                "in the contributor folder. Move its images up, or make it a contributor folder of its own."
            )
        if os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            images.append(entry.name)
        else:
            skipped.append(Path(entry.path))

    if not images:
        raise DatasetError(
            f"Contributor folder {folder} has no images ({', '.join(IMAGE_EXTENSIONS)}). "
            "Add images to it or remove the folder."
        )
    return images


def list_manifest(manifest: Path, contributor_column: str = "contributor") -> ImageListing:
    """List the files of a CSV or Parquet manifest.

    Args:
        manifest: the `.csv`, `.parquet` or `.pq` file.
        contributor_column: the column holding contributor names; integer
            values such as CelebA identities become their decimal strings.

    Raises:
        DatasetError: on an unsupported suffix, a missing column, an empty
            path or contributor, a duplicate path or a missing file.
    """
    table = _read_table(manifest, contributor_column)
    _check_columns(manifest, table, contributor_column)
    if table.empty:
        raise DatasetError(f"Manifest {manifest} has no rows. Add one row per image.")

    paths = [_manifest_path(value) for value in table["path"]]
    names = [_contributor_name(value) for value in table[contributor_column]]
    _check_cells(manifest, "path", paths)
    _check_cells(manifest, contributor_column, names)
    _check_duplicates(manifest, paths)

    root = manifest.parent
    _check_files_exist(manifest, root, paths)
    captions = None
    if "caption" in table.columns:
        captions = ["" if pd.isna(value) else str(value) for value in table["caption"]]
    return _sorted_listing(root, list(zip(names, paths)), captions)


def _read_table(manifest: Path, contributor_column: str) -> pd.DataFrame:
    suffix = manifest.suffix.lower()
    try:
        if suffix == ".csv":
            text_columns = {"path": str, contributor_column: str, "caption": str}
            return pd.read_csv(manifest, dtype=text_columns, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(manifest)
    except (OSError, ValueError) as error:
        raise DatasetError(f"Cannot read manifest {manifest}: {error}. Check that it is a valid {suffix} file.") from error
    raise DatasetError(
        f"Unsupported manifest {manifest}: the suffix {suffix!r} is not one of {', '.join(MANIFEST_SUFFIXES)}. "
        "Pass a folder of contributor subfolders, a CSV or Parquet manifest, or 'cifar100-20'."
    )


def _check_columns(manifest: Path, table: pd.DataFrame, contributor_column: str) -> None:
    missing = [column for column in ("path", contributor_column) if column not in table.columns]
    if missing:
        raise DatasetError(
            f"Manifest {manifest} lacks the column(s) {', '.join(missing)}; it has {', '.join(map(str, table.columns))}. "
            "Add them, or set data.contributor_column to the column that names the contributor."
        )


def _manifest_path(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).strip().replace("\\", "/")
    return PurePosixPath(text).as_posix() if text else ""


def _contributor_name(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_cells(manifest: Path, column: str, values: list[str]) -> None:
    empty = [index for index, value in enumerate(values) if not value]
    if empty:
        rows = ", ".join(str(index + 2) for index in empty[:_MAX_NAMED])
        raise DatasetError(
            f"Manifest {manifest} has {len(empty)} empty {column!r} cell(s), e.g. on line(s) {rows} "
            "(line 1 is the header). Fill them in or remove those rows."
        )


def _check_duplicates(manifest: Path, paths: list[str]) -> None:
    duplicates = sorted(path for path, count in Counter(paths).items() if count > 1)
    if duplicates:
        raise DatasetError(
            f"Manifest {manifest} lists {len(duplicates)} path(s) more than once, e.g. "
            f"{', '.join(duplicates[:_MAX_NAMED])}. Keep one row per image."
        )


def _check_files_exist(manifest: Path, root: Path, paths: list[str]) -> None:
    missing = [path for path in paths if not (root / path).is_file()]
    if missing:
        raise DatasetError(
            f"Manifest {manifest} references {len(missing)} missing file(s), e.g. "
            f"{', '.join(missing[:_MAX_NAMED])} (relative paths are resolved against {root}). "
            "Fix the paths or remove those rows."
        )


def _sorted_listing(root: Path, entries: list[tuple[str, str]], captions: list[str] | None) -> ImageListing:
    order = sorted(range(len(entries)), key=lambda index: entries[index])
    return ImageListing(
        root=root,
        paths=[entries[i][1] for i in order],
        contributor_of=[entries[i][0] for i in order],
        captions=None if captions is None else [captions[i] for i in order],
    )


def _is_hidden(entry: Path | os.DirEntry) -> bool:
    return entry.name.startswith(".")
