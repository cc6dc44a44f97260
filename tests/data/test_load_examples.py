import pytest
import torch
from PIL import Image

from diffusion_credit.config import DataConfig
from diffusion_credit.data import load_dataset

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def examples(example_data_dir, tmp_path_factory):
    config = DataConfig(path=str(example_data_dir), resolution=16, cache_dir=str(tmp_path_factory.mktemp("cache")))
    return load_dataset(config, progress=False)


def test_examples_shape_and_range(examples):
    assert examples.images.shape == (1000, 3, 16, 16)
    assert examples.images.dtype == torch.float32
    assert examples.images.min() >= -1.0
    assert examples.images.max() <= 1.0
    assert examples.images.std() > 0.2


def test_examples_contributors_and_labels(examples):
    assert examples.contributors == CLASSES
    assert examples.counts == dict.fromkeys(CLASSES, 100)
    assert examples.labels.dtype == torch.int64
    assert examples.labels.tolist() == [index for index in range(10) for _ in range(100)]
    assert examples.paths[100] == "automobile/0000.jpg"
    assert examples.captions is None


def test_examples_coalition_indices(examples):
    indices = examples.indices("0100000001")

    assert indices.tolist() == list(range(100, 200)) + list(range(900, 1000))


def test_examples_native_resolution_matches_files(example_data_dir, tmp_path):
    config = DataConfig(
        path=str(example_data_dir), resolution=32, cache_dir=str(tmp_path), max_images_per_contributor=3
    )

    dataset = load_dataset(config, progress=False)

    assert dataset.paths[:3] == ["airplane/0000.jpg", "airplane/0001.jpg", "airplane/0002.jpg"]
    with Image.open(example_data_dir / "bird" / "0002.jpg") as image:
        expected = torch.tensor(list(image.convert("RGB").getdata()), dtype=torch.float32)
    expected = (expected.reshape(32, 32, 3).permute(2, 0, 1) / 127.5) - 1.0
    torch.testing.assert_close(dataset.images[dataset.paths.index("bird/0002.jpg")], expected)
