import numpy as np
import pytest
import torch
from PIL import Image

from diffusion_credit.data import DatasetError, preprocess_image
from diffusion_credit.data.images import decode_image, decode_images, to_model_range


def test_landscape_center_crop_exact():
    pixels = np.zeros((20, 60, 3), dtype=np.uint8)
    pixels[:, 20:40] = 255

    result = preprocess_image(Image.fromarray(pixels), resolution=20, channels=3)

    assert result.shape == (20, 20, 3)
    assert result.dtype == np.uint8
    assert (result == 255).all()


def test_portrait_center_crop_exact():
    pixels = np.zeros((60, 20, 3), dtype=np.uint8)
    pixels[20:40] = 200

    result = preprocess_image(Image.fromarray(pixels), resolution=20, channels=3)

    assert (result == 200).all()


def test_resize_keeps_constant_color():
    pixels = np.full((48, 64, 3), (10, 120, 250), dtype=np.uint8)

    result = preprocess_image(Image.fromarray(pixels), resolution=12, channels=3)

    assert result.shape == (12, 12, 3)
    assert (result == np.array([10, 120, 250], dtype=np.uint8)).all()


def test_shorter_side_resized_before_crop():
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, 20:60] = 255

    result = preprocess_image(Image.fromarray(pixels), resolution=10, channels=3)

    assert result.shape == (10, 10, 3)
    assert (result[:, 2:8] == 255).all()


def test_luma_conversion_of_red():
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[..., 0] = 255

    result = preprocess_image(Image.fromarray(pixels), resolution=8, channels=1)

    assert result.shape == (8, 8, 1)
    assert (result == 76).all()  # ITU-R 601-2 luma: 255 * 299 / 1000


def test_gray_image_replicated_to_rgb():
    gray = Image.fromarray(np.full((8, 8), 90, dtype=np.uint8), mode="L")

    result = preprocess_image(gray, resolution=8, channels=3)

    assert (result == 90).all()


def test_palette_and_alpha_images_converted():
    rgba = Image.fromarray(np.full((8, 8, 4), (1, 2, 3, 0), dtype=np.uint8), mode="RGBA")
    palette = rgba.convert("RGB").convert("P")

    assert (preprocess_image(rgba, 8, 3) == np.array([1, 2, 3])).all()
    assert preprocess_image(palette, 8, 3).shape == (8, 8, 3)


def test_exif_orientation_applied(tmp_path):
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, 10:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.png"
    Image.fromarray(pixels).save(path, exif=exif)

    result = decode_image(path, resolution=10, channels=3)

    assert (result[:5] == 0).all()
    assert (result[5:] == 255).all()


def test_real_jpeg_at_native_size_unchanged(example_data_dir):
    path = example_data_dir / "cat" / "0000.jpg"

    result = decode_image(path, resolution=32, channels=3)

    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(result, expected)


def test_decode_images_order_and_layout(example_data_dir):
    files = [example_data_dir / "cat" / "0003.jpg", example_data_dir / "dog" / "0000.jpg"]

    pixels = decode_images(files, resolution=32, channels=3, num_workers=2, progress=False)

    assert pixels.shape == (2, 3, 32, 32)
    assert pixels.dtype == torch.uint8
    for index, path in enumerate(files):
        expected = torch.from_numpy(decode_image(path, 32, 3)).permute(2, 0, 1)
        assert torch.equal(pixels[index], expected)


def test_undecodable_file_named(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("plain text, not a PNG")

    with pytest.raises(DatasetError, match=r"Cannot decode image .*notes.png"):
        decode_image(path, 8, 3)


def test_model_range_endpoints():
    pixels = torch.tensor([0, 255, 51], dtype=torch.uint8).reshape(1, 1, 1, 3)

    scaled = to_model_range(pixels)

    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled.flatten(), torch.tensor([-1.0, 1.0, -0.6]))
