"""Real-world image files: every Pillow mode, broken files, odd names, tiny and huge images.

Each case either reads correctly or raises a ValueError that names the file; listing a folder
with ``on_error="skip"`` leaves broken files out and says why.
"""

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from sknovel.features import (
    PixelFeaturizer,
    SIFTBoWFeaturizer,
    check_image_array,
    iter_image_batches,
    load_image,
    load_image_folder,
)
from sknovel.features._activation_cache import image_set_key
from sknovel.utils.images import read_image_pixels, to_unit_float

#: A 16-bit ramp from 0 to 65535 whose mean is exactly half the range.
RAMP16 = np.linspace(0, 65535, 32 * 64).round().astype(np.uint16).reshape(32, 64)


def save(image, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


# --------------------------------------------------------------------------- every mode


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_is_scaled_by_65535(tmp_path, suffix):
    path = save(Image.fromarray(RAMP16), tmp_path / f"ramp{suffix}")
    assert Image.open(path).mode == "I;16"
    image = load_image(path)
    assert image.shape == (32, 64, 1)
    assert image.mean() == pytest.approx(0.5, abs=1e-6)  # was 0.998: clipped to 8 bits
    np.testing.assert_allclose(image[..., 0], RAMP16 / 65535, atol=1e-6)
    assert load_image(path, mode="RGB").shape == (32, 64, 3)


def test_big_endian_16_bit_grey(tmp_path):
    big_endian = Image.frombytes("I;16B", (64, 32), RAMP16.astype(">u2").tobytes())
    path = save(big_endian, tmp_path / "ramp.tif")
    assert Image.open(path).mode == "I;16B"
    np.testing.assert_allclose(load_image(path)[..., 0], RAMP16 / 65535, atol=1e-6)


def test_32_bit_int_holding_16_bit_data(tmp_path):
    path = save(Image.fromarray(RAMP16.astype(np.int32)), tmp_path / "ramp.tif")
    assert Image.open(path).mode == "I"
    assert load_image(path).mean() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("value", [70000, -5])
def test_32_bit_int_outside_16_bits_is_refused(tmp_path, value):
    array = RAMP16.astype(np.int32)
    array[0, 0] = value
    path = save(Image.fromarray(array), tmp_path / "wide.tif")
    with pytest.raises(ValueError, match=r"wide\.tif.*mode I"):
        load_image(path)


def test_float_images_in_unit_range(tmp_path):
    values = np.linspace(0, 1, 32 * 64, dtype=np.float32).reshape(32, 64)
    path = save(Image.fromarray(values), tmp_path / "float.tif")
    assert Image.open(path).mode == "F"
    np.testing.assert_array_equal(load_image(path)[..., 0], values)  # was 0 or 1/255


@pytest.mark.parametrize("bad, match", [(2.0, r"\[0, 1\]"), (np.nan, "NaN")])
def test_float_images_outside_unit_range_are_refused(tmp_path, bad, match):
    values = np.full((4, 4), 0.5, dtype=np.float32)
    values[1, 2] = bad
    path = save(Image.fromarray(values), tmp_path / "float.tif")
    with pytest.raises(ValueError, match=rf"float\.tif.*{match}"):
        load_image(path)


def test_grey_with_alpha_is_composited_over_white(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 6, 2), dtype=np.uint8)
    path = save(Image.fromarray(pixels), tmp_path / "la.png")
    assert Image.open(path).mode == "LA"
    grey, alpha = pixels[..., 0] / 255, pixels[..., 1] / 255
    image = load_image(path)
    assert image.shape == (5, 6, 1)
    np.testing.assert_allclose(image[..., 0], grey * alpha + 1 - alpha, atol=1e-6)


def test_rgba_is_composited_over_white(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    path = save(Image.fromarray(pixels), tmp_path / "rgba.png")
    colour, alpha = pixels[..., :3] / 255, pixels[..., 3:] / 255
    np.testing.assert_allclose(load_image(path), colour * alpha + 1 - alpha, atol=1e-6)


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (4, 2), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 transparent, 1 red
    palette.paste(1, (0, 0, 2, 2))
    path = tmp_path / "palette.png"
    palette.save(path, transparency=0)
    image = load_image(path)
    np.testing.assert_array_equal(image[:, :2], np.broadcast_to([1.0, 0.0, 0.0], (2, 2, 3)))
    np.testing.assert_array_equal(image[:, 2:], np.ones((2, 2, 3)))  # white, not black
    assert load_image(path, mode="L").shape == (2, 4, 1)


def test_cmyk_and_bilevel(tmp_path):
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 0, 0))
    path = save(cmyk, tmp_path / "cmyk.tif")
    np.testing.assert_allclose(load_image(path), np.asarray(cmyk.convert("RGB")) / 255)
    bits = Image.fromarray(np.eye(4, dtype=bool))
    path = save(bits, tmp_path / "bits.png")
    assert Image.open(path).mode == "1"
    np.testing.assert_array_equal(load_image(path)[..., 0], np.eye(4))


def test_pixels_stay_uint8_only_for_8_bit_files_without_transparency(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    transparent_palette = Image.fromarray(rgb).convert("P")
    transparent_palette.info["transparency"] = 0
    images = {
        "rgb.png": (Image.fromarray(rgb), np.uint8),
        "grey.png": (Image.fromarray(rgb[..., 0]), np.uint8),
        "palette.png": (Image.fromarray(rgb).convert("P"), np.uint8),
        "bits.png": (Image.fromarray(rgb[..., 0] > 128), np.uint8),
        "cmyk.tif": (Image.fromarray(rgb).convert("CMYK"), np.uint8),
        "rgba.png": (Image.fromarray(np.dstack([rgb, rgb[..., :1]])), np.float32),
        "grey_alpha.png": (Image.fromarray(rgb[..., :2].copy(), mode="LA"), np.float32),
        "transparent_palette.png": (transparent_palette, np.float32),
        "sixteen.png": (Image.fromarray(RAMP16[:5, :6].copy()), np.float32),
        "float.tif": (Image.fromarray(rgb[..., 0] / np.float32(255)), np.float32),
    }
    for name, (image, dtype) in images.items():
        path = tmp_path / name
        image.save(path, **({"transparency": 0} if name.startswith("transparent") else {}))
        for mode in [None, "L", "RGB"]:
            pixels = read_image_pixels(path, mode=mode)
            assert pixels.dtype == dtype, (name, mode)
            assert pixels.flags.writeable
            np.testing.assert_array_equal(to_unit_float(pixels), load_image(path, mode=mode))


# --------------------------------------------------------------------------- broken files


@pytest.fixture
def truncated_jpeg(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    folder = tmp_path / "photos" / "class"
    folder.mkdir(parents=True)
    Image.fromarray(pixels).save(folder / "good.jpg")
    path = folder / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with Image.open(path) as image:
        image.verify()  # the header and markers look fine: only decoding finds the damage
    return path


def test_truncated_jpeg_is_skipped_at_listing_with_its_reason(truncated_jpeg):
    found = load_image_folder(truncated_jpeg.parent.parent, on_error="skip")
    assert [os.path.basename(p) for p in found.paths] == ["good.jpg"]
    assert found.skipped == [str(truncated_jpeg)]
    assert len(found.skip_reasons) == 1 and "truncated" in found.skip_reasons[0]
    assert found.kept_indices.tolist() == [0]


@pytest.mark.parametrize(
    "featurizer",
    [PixelFeaturizer(), SIFTBoWFeaturizer(1)],
    ids=["pixels", "sift"],
)
def test_featurizers_name_a_truncated_file(truncated_jpeg, featurizer):
    paths = [str(truncated_jpeg.parent / "good.jpg"), str(truncated_jpeg)]
    with pytest.raises(ValueError, match=r"truncated\.jpg.*truncated"):
        featurizer.fit_transform(paths)


def test_cnn_names_a_truncated_file(truncated_jpeg):
    pytest.importorskip("torch")
    from sknovel.features import CNNFeaturizer

    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16)
    # Without a cache, fit reads no image (it probes the layer's width): transform names it.
    with pytest.raises(ValueError, match=r"truncated\.jpg.*truncated"):
        cnn.fit_transform([str(truncated_jpeg)])


@pytest.fixture
def bomb(tmp_path, monkeypatch):
    """A 30 x 30 file that Pillow treats as a decompression bomb (limit lowered to 100)."""
    path = save(Image.new("L", (30, 30), 7), tmp_path / "bomb" / "a" / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    return path


def test_decompression_bomb_is_named(bomb):
    with pytest.raises(ValueError, match=r"bomb\.png.*decompression bomb"):
        load_image(bomb)
    with pytest.raises(ValueError, match=r"bomb\.png"):
        PixelFeaturizer().fit([str(bomb)])
    found = load_image_folder(bomb.parent.parent, on_error="skip")
    assert found.paths == [] and found.skipped == [str(bomb)]
    assert "decompression bomb" in found.skip_reasons[0]


def test_decompression_bomb_warning_turned_error_is_named(bomb, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # 900 pixels: a warning only
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ValueError, match=r"bomb\.png"):
            load_image(bomb)


def png_bytes(width, height):
    """A PNG whose header says `width` x `height` (valid checksums, grey pixels)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("width, height", [(0, 5), (5, 0)])
def test_files_without_pixels_are_named_and_skipped(tmp_path, width, height):
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "empty.png").write_bytes(png_bytes(width, height))
    (folder / "fine.png").write_bytes(png_bytes(3, 2))
    assert load_image(folder / "fine.png").shape == (2, 3, 1)
    with pytest.raises(ValueError, match=r"empty\.png"):
        load_image(folder / "empty.png")
    found = load_image_folder(folder, on_error="skip")
    assert [os.path.basename(p) for p in found.skipped] == ["empty.png"]
    assert found.skip_reasons[0]


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("shape", [(2, 0, 5), (2, 5, 0), (2, 0, 0, 3)])
def test_arrays_without_pixels_are_refused(shape):
    images = np.zeros(shape, dtype=np.uint8)
    with pytest.raises(ValueError, match="without pixels"):
        check_image_array(images)
    # before: 0 features (pixels), cv2.error (SIFT), ZeroDivisionError (CNN)
    featurizers = [PixelFeaturizer(), SIFTBoWFeaturizer(1)]
    try:
        import torch  # noqa: F401

        from sknovel.features import CNNFeaturizer

        featurizers.append(CNNFeaturizer("resnet18", weights="random", crop_size=16))
    except ImportError:
        pass
    for featurizer in featurizers:
        with pytest.raises(ValueError, match="without pixels"):
            featurizer.fit(images)


def test_one_pixel_images_among_others(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (40, 36), dtype=np.uint8)
    paths = [
        str(save(Image.new("RGB", (1, 1), (200, 10, 10)), tmp_path / "dot.png")),
        str(save(Image.new("L", (30, 20), 90), tmp_path / "grey.png")),
        str(save(Image.fromarray(noise), tmp_path / "noise.png")),
    ]
    pixels = PixelFeaturizer(size=(8, 8)).fit(paths)
    features = pixels.transform(paths).reshape(3, 8, 8, 3)
    dot = np.broadcast_to(np.float32([200, 10, 10]) / 255, (8, 8, 3))
    np.testing.assert_allclose(features[0], dot, atol=1e-6)
    np.testing.assert_allclose(features[1], 90 / 255, atol=1e-6)
    sift = SIFTBoWFeaturizer(1, random_state=0).fit(paths)
    assert sift.transform(paths).tolist()[0] == [0.0]  # no keypoints in one pixel
    assert SIFTBoWFeaturizer(1, size=(16, 16), random_state=0).fit_transform(paths).shape == (3, 1)


# --------------------------------------------------------------------------- names and caching


@pytest.fixture
def latin1_name(tmp_path):
    name = os.fsdecode(b"caf\xe9.png")  # not UTF-8: a lone surrogate in Python's str
    try:
        path = save(Image.new("RGB", (6, 4), (1, 2, 3)), tmp_path / "names" / "x" / name)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 file names")
    return path


def test_non_utf8_file_names(latin1_name):
    image_set_key([latin1_name])  # was UnicodeEncodeError: surrogates not allowed
    found = load_image_folder(latin1_name.parent.parent, labels_from_subfolders=True)
    assert found.paths == [str(latin1_name)]
    assert PixelFeaturizer().fit_transform(found.paths).shape == (1, 72)
    with pytest.raises(ValueError, match="caf"):
        load_image(str(latin1_name) + ".missing")


def test_non_utf8_file_names_through_the_cnn(latin1_name):
    pytest.importorskip("torch")
    from sknovel.features import CNNFeaturizer

    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16)
    assert cnn.fit_transform([str(latin1_name)]).shape == (1, 512)


def rewrite_keeping_size_and_mtime(path, pixels):
    before = os.stat(path)
    Image.fromarray(pixels).save(path)  # BMP: the size depends only on the shape
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_cache_key_changes_with_the_pixels_alone(tmp_path):
    path = tmp_path / "a.bmp"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
    before = image_set_key([path])
    rewrite_keeping_size_and_mtime(path, np.full((8, 8, 3), 255, dtype=np.uint8))
    assert image_set_key([path]) != before
    assert image_set_key([path]) == image_set_key([str(path)])


@pytest.mark.parametrize("memory", ["store", "folder"])
def test_cnn_cache_sees_new_pixels_with_the_same_size_and_mtime(memory, tmp_path):
    pytest.importorskip("torch")
    from sknovel.features import ActivationStore, CNNFeaturizer

    rng = np.random.default_rng(0)
    paths = [tmp_path / f"{i}.bmp" for i in range(3)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path)
    memory = ActivationStore() if memory == "store" else str(tmp_path / "cache")
    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16, memory=memory)
    old = cnn.fit_transform(paths).copy()
    rewrite_keeping_size_and_mtime(paths[1], rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    new = cnn.transform(paths)
    fresh = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16)
    np.testing.assert_allclose(new, fresh.fit_transform(paths), rtol=1e-5, atol=1e-6)
    assert not np.allclose(new[1], old[1])


def test_batches_of_files_name_the_odd_size(tmp_path):
    paths = [
        str(save(Image.new("L", (4, 4)), tmp_path / "a.png")),
        str(save(Image.new("L", (5, 4)), tmp_path / "b.png")),
    ]
    with pytest.raises(ValueError, match=r"b\.png.*a\.png.*size=\(height, width\)"):
        list(iter_image_batches(paths, 8))
