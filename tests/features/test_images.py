"""Image input: arrays, lazily read files, folders, and every kind of bad input."""

import numpy as np
import pytest
from PIL import Image

from sknovel.features import check_image_array, iter_image_batches, load_image, load_image_folder
from sknovel.utils.images import fit_geometry, fit_to_size


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def rgb_files(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8) for _ in range(7)]
    paths = [write_png(tmp_path / f"img{i}.png", a) for i, a in enumerate(arrays)]
    return paths, np.stack(arrays)


def test_array_and_files_give_the_same_batches(rgb_files):
    paths, arrays = rgb_files
    from_files = np.concatenate(list(iter_image_batches([str(p) for p in paths], 3)))
    from_array = np.concatenate(list(iter_image_batches(arrays, 3)))
    np.testing.assert_allclose(from_files, arrays / 255.0, atol=1e-6)
    np.testing.assert_array_equal(from_files, from_array)
    assert from_files.dtype == np.float32


def test_files_are_read_one_batch_at_a_time(rgb_files, monkeypatch):
    import sknovel.utils.images as images_module

    paths, _ = rgb_files
    reads = []
    real = images_module.load_image
    monkeypatch.setattr(images_module, "load_image", lambda p, **k: reads.append(p) or real(p, **k))
    batches = iter_image_batches(paths, 2)
    next(batches)
    assert len(reads) == 2  # one batch of two (grey or colour is read from the headers)


def test_greyscale_arrays_get_a_channel_axis():
    assert check_image_array(np.zeros((2, 4, 4), dtype=np.uint8)).shape == (2, 4, 4, 1)


@pytest.mark.parametrize(
    "array, error, match",
    [
        (np.zeros((4, 4)), ValueError, "shape \\(n, H, W\\)"),
        (np.zeros((1, 2, 2, 2, 2)), ValueError, "shape \\(n, H, W\\)"),
        (np.zeros((0, 4, 4)), ValueError, "no images"),
        (np.zeros((2, 4, 4, 2)), ValueError, "1, 3 or 4 channels"),
        (np.zeros((2, 4, 4), dtype=np.int64), TypeError, "uint8 .* or float"),
        (np.full((2, 4, 4), np.nan), ValueError, "NaN"),
        (np.full((2, 4, 4), 2.0), ValueError, "must lie in \\[0, 1\\]"),
    ],
)
def test_bad_arrays(array, error, match):
    with pytest.raises(error, match=match):
        check_image_array(array)


def test_corrupt_file_is_named(tmp_path, rgb_files):
    paths, _ = rgb_files
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="broken.png"):
        list(iter_image_batches([*paths[:2], broken], 2))
    with pytest.raises(ValueError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_mixed_sizes_need_a_size(tmp_path, rgb_files):
    paths, _ = rgb_files
    other = write_png(tmp_path / "big.png", np.zeros((9, 9, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="pass size=\\(height, width\\)"):
        list(iter_image_batches([paths[0], other], 4))
    batch = next(iter_image_batches([paths[0], other], 4, size=(8, 8)))
    assert batch.shape == (2, 8, 8, 3)


def test_empty_list():
    with pytest.raises(ValueError, match="empty list"):
        list(iter_image_batches([], 4))


def test_folder_with_labels_and_skipping(tmp_path):
    grey = np.zeros((4, 4), dtype=np.uint8)
    write_png(tmp_path / "cats" / "b.png", grey)
    write_png(tmp_path / "cats" / "a.png", grey)
    write_png(tmp_path / "dogs" / "deep" / "c.PNG", grey)
    (tmp_path / "dogs" / "bad.jpg").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        list(iter_image_batches(load_image_folder(tmp_path).paths, 8))
    result = load_image_folder(tmp_path, labels_from_subfolders=True, on_error="skip")
    assert [p.split("/")[-1] for p in result.paths] == ["a.png", "b.png", "c.PNG"]
    assert result.class_names == ["cats", "dogs"] and result.labels.tolist() == [0, 0, 1]
    assert result.skipped[0].endswith("bad.jpg") and result.kept_indices.tolist() == [0, 1, 3]


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        load_image_folder(tmp_path / "nothing")
    with pytest.raises(ValueError, match="No image files"):
        load_image_folder(tmp_path)
    write_png(tmp_path / "loose.png", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="lies directly in the folder"):
        load_image_folder(tmp_path, labels_from_subfolders=True)
    with pytest.raises(ValueError, match="on_error"):
        load_image_folder(tmp_path, on_error="ignore")


def test_skip_reasons_parallel_to_skipped(tmp_path):
    write_png(tmp_path / "good.png", np.zeros((3, 3), dtype=np.uint8))
    (tmp_path / "bad.png").write_bytes(b"garbage")
    result = load_image_folder(tmp_path, on_error="skip")
    assert result.skipped == [str(tmp_path / "bad.png")]
    assert len(result.skip_reasons) == 1 and "cannot identify" in result.skip_reasons[0]
    assert load_image_folder(tmp_path).skip_reasons == []


@pytest.mark.parametrize(
    "shape, size, resized, corner",
    [
        ((4, 8), (2, 2), (2, 4), (0, 1)),  # shorter side fits, the long one is cropped
        ((6, 5), (5, 5), (6, 5), (0, 0)),  # a crop only
        ((1, 1), (3, 5), (5, 5), (1, 0)),  # one pixel: scaled up to cover
        ((10, 10), (4, 8), (8, 8), (2, 0)),  # a square into a wide size
    ],
)
def test_fit_geometry(shape, size, resized, corner):
    assert fit_geometry(shape, size) == (resized, corner)


def test_fit_to_size_keeps_the_aspect_ratio_and_centres():
    image = np.random.default_rng(0).random((4, 8, 3)).astype(np.float32)
    fitted = fit_to_size(image, (2, 2))
    # Half size (2 x 4, Pillow's antialiased bilinear per channel), then columns 1-2.
    expected = np.stack(
        [
            np.asarray(Image.fromarray(image[..., k]).resize((4, 2), Image.Resampling.BILINEAR))
            for k in range(3)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(fitted, expected[:, 1:3], atol=1e-6)
    assert (
        fit_to_size(np.full((1, 1, 1), 0.25, np.float32), (3, 4)).tolist()
        == np.full((3, 4, 1), 0.25).tolist()
    )


def test_files_and_arrays_are_fitted_alike(tmp_path):
    rng = np.random.default_rng(1)
    arrays = rng.integers(0, 256, size=(3, 9, 14, 3), dtype=np.uint8)
    paths = [str(write_png(tmp_path / f"{i}.png", a)) for i, a in enumerate(arrays)]
    from_files = next(iter_image_batches(paths, 8, size=(6, 6)))
    from_array = next(iter_image_batches(arrays, 8, size=(6, 6)))
    assert from_files.shape == (3, 6, 6, 3)
    np.testing.assert_allclose(from_files, from_array, atol=1e-6)
    np.testing.assert_allclose(from_files[0], fit_to_size(arrays[0] / 255, (6, 6)), atol=1e-6)


@pytest.mark.parametrize("grey_first", [True, False])
def test_grey_and_colour_files_are_read_as_colour_in_any_order(tmp_path, grey_first):
    grey = write_png(tmp_path / "grey.png", np.full((4, 4), 60, dtype=np.uint8))
    colour = write_png(tmp_path / "colour.png", np.full((4, 4, 3), (10, 20, 30), dtype=np.uint8))
    paths = [grey, colour] if grey_first else [colour, grey]
    batch = next(iter_image_batches(paths, 8))
    assert batch.shape == (2, 4, 4, 3)  # was (2, 4, 4, 1) when the grey file came first
    np.testing.assert_allclose(batch[paths.index(grey)], 60 / 255, atol=1e-6)
    np.testing.assert_allclose(batch[paths.index(colour)][0, 0], np.array([10, 20, 30]) / 255)
    only_grey = next(iter_image_batches([grey, grey], 8))
    assert only_grey.shape == (2, 4, 4, 1)


def test_load_image_refuses_an_unknown_mode(rgb_files):
    paths, _ = rgb_files
    with pytest.raises(ValueError, match="mode must be"):
        load_image(paths[0], mode="CMYK")


def write_oriented_jpeg(path, orientation, mode="RGB"):
    """A 20 x 40 JPEG, left half dark, right half light, tagged with an EXIF orientation."""
    pixels = np.full((20, 40, 3), 30, np.uint8)
    pixels[:, 20:] = 220
    pixels[:4, :4] = (250, 0, 0)  # a corner mark, so that every turn looks different
    image = Image.fromarray(pixels).convert(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_turns_a_phone_photo_upright(tmp_path):
    # Orientation 6: stored landscape, shown turned 90 degrees clockwise (portrait).
    path = write_oriented_jpeg(tmp_path / "phone.jpg", 6)
    image = load_image(path)
    assert image.shape == (40, 20, 3)  # was (20, 40, 3): featurized sideways
    assert image[:20].mean() < 0.2 and image[20:].mean() > 0.8  # the left half is on top
    assert load_image(path, size=(8, 4)).shape == (8, 4, 3)  # fitted as it is shown
    grey = write_oriented_jpeg(tmp_path / "grey.jpg", 6, mode="L")
    assert load_image(grey).shape == (40, 20, 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_viewers_do(tmp_path, orientation):
    from PIL import ImageOps

    path = write_oriented_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    with Image.open(path) as image:
        shown = np.asarray(ImageOps.exif_transpose(image), dtype=np.float32) / 255
    np.testing.assert_array_equal(load_image(path), shown)
    np.testing.assert_array_equal(next(iter_image_batches([path], 1))[0], shown)


def test_orientation_keeps_transparency_and_a_bad_exif_block_is_ignored(tmp_path):
    pixels = np.zeros((4, 6), np.uint8)
    pixels[:, :3] = 1
    image = Image.fromarray(pixels, "P")
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    exif = Image.Exif()
    exif[0x0112] = 8  # turned 90 degrees counter-clockwise: the right half goes on top
    image.save(tmp_path / "p.png", exif=exif, transparency=0)
    loaded = load_image(tmp_path / "p.png")
    assert loaded.shape == (6, 4, 3)
    np.testing.assert_array_equal(loaded[:3], 1.0)  # transparent red, over white
    np.testing.assert_array_equal(loaded[3:], np.broadcast_to([0.0, 0.0, 1.0], (3, 4, 3)))

    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(
        tmp_path / "bad.jpg", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage"
    )
    with pytest.warns(UserWarning, match="Corrupt EXIF"):
        assert load_image(tmp_path / "bad.jpg").shape == (4, 6, 3)  # as stored


def test_cnn_reads_files_upright(tmp_path):
    pytest.importorskip("torch")
    from sknovel.features import CNNFeaturizer

    path = write_oriented_jpeg(tmp_path / "phone.jpg", 6)
    upright = load_image(path)[np.newaxis]
    cnn = CNNFeaturizer("resnet18", weights="random", random_state=0, crop_size=16)
    cnn.fit(upright)
    np.testing.assert_allclose(cnn.transform([str(path)]), cnn.transform(upright), atol=1e-5)
    sideways = np.asarray(Image.open(path), dtype=np.float32)[np.newaxis] / 255
    assert not np.allclose(cnn.transform([str(path)]), cnn.transform(sideways), atol=1e-3)
