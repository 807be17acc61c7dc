"""Image input: arrays, lazily read files, folders, and every kind of bad input."""

import numpy as np
import pytest
from PIL import Image

from sknovel.features import check_image_array, iter_image_batches, load_image, load_image_folder


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
    import sknovel.features._images as images_module

    paths, _ = rgb_files
    reads = []
    real = images_module.load_image
    monkeypatch.setattr(images_module, "load_image", lambda p, **k: reads.append(p) or real(p, **k))
    batches = iter_image_batches(paths, 2)
    next(batches)
    assert len(reads) <= 3  # the first file (to fix the channels) and one batch of two


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
