"""Image input: validate arrays, read files lazily in batches, list a folder of images.

Images are handed to featurizers either as an array -- (n, H, W) greyscale or (n, H, W, C)
channels-last, uint8 in [0, 255] or float in [0, 1] -- or as a sequence of file paths, read
with Pillow one batch at a time so that memory stays bounded by the batch size.
Every batch comes out as float32 (b, H, W, C) in [0, 1].
"""

import os
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

#: File suffixes (lower case) that :func:`load_image_folder` treats as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_path_sequence(images):
    """Whether `images` is a non-array sequence of file paths (str or os.PathLike)."""
    if isinstance(images, (np.ndarray, str, bytes, os.PathLike)):
        return False
    return isinstance(images, Sequence) and all(
        isinstance(item, (str, os.PathLike)) for item in images
    )


def check_image_array(images, *, name="X"):
    """Validate an image array; return it as (n, H, W, C) (a view where possible).

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, C)
        uint8 in [0, 255] or float in [0, 1], C in {1, 3, 4}.
    name : str, default="X"
        Parameter name used in error messages.

    Returns
    -------
    images : ndarray of shape (n, H, W, C)
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be images of shape (n, H, W) or (n, H, W, C), or a list of image "
            f"file paths; got an array of shape {images.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {images.shape}).")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{name} must have 1, 3 or 4 channels in its last axis; got shape {images.shape}."
        )
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind != "f":
        raise TypeError(
            f"{name} must be uint8 in [0, 255] or float in [0, 1]; got dtype {images.dtype}."
        )
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinity.")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"float {name} must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}] "
            "(divide uint8-range data by 255, or pass it as uint8)."
        )
    return images


def check_size(size, *, name="size"):
    """Refuse a `size` that is neither None nor (height, width) of positive ints."""
    if size is not None and (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in size)
        or min(size) < 1
    ):
        raise ValueError(f"{name} must be None or (height, width) of positive ints; got {size!r}.")


def load_image(path, *, mode=None, size=None):
    """Read one image file as a float32 (H, W, C) array in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"L", "RGB"} or None, default=None
        Pillow mode to convert to; None keeps greyscale as "L" and turns anything else
        into "RGB".
    size : tuple (height, width) or None, default=None
        Resize to this size (bilinear) when given.

    Returns
    -------
    image : ndarray of shape (H, W, C), float32

    Raises
    ------
    ValueError
        If the file is missing, unreadable or not an image; the message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if mode is None:
                mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            image = image.convert(mode)
            if size is not None:
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ValueError(f"Cannot read image file {os.fspath(path)!r}: {error}") from error
    return array[..., np.newaxis] if array.ndim == 2 else array


def iter_image_batches(images, batch_size, *, size=None, name="X"):
    """Yield float32 batches (b, H, W, C) in [0, 1] of an image array or list of paths.

    Files are read only when their batch is due. All images must share one size unless
    `size` is given (then every file is resized to it); the first file fixes the number of
    channels for a list of paths.

    Parameters
    ----------
    images : ndarray or sequence of paths
    batch_size : int
    size : tuple (height, width) or None, default=None
    name : str, default="X"

    Yields
    ------
    batch : ndarray of shape (b, H, W, C), float32
    """
    if not is_path_sequence(images):
        array = check_image_array(images, name=name)
        for start in range(0, len(array), batch_size):
            batch = array[start : start + batch_size]
            if batch.dtype == np.uint8:
                batch = batch / np.float32(255)
            yield _resize_batch(batch.astype(np.float32, copy=False), size)
        return
    if len(images) == 0:
        raise ValueError(f"{name} is an empty list of image files.")
    first = load_image(images[0], size=size)
    mode = "L" if first.shape[-1] == 1 else "RGB"
    for start in range(0, len(images), batch_size):
        batch = []
        for path in images[start : start + batch_size]:
            image = load_image(path, mode=mode, size=size)
            if image.shape != first.shape:
                raise ValueError(
                    f"Image file {os.fspath(path)!r} has shape {image.shape} but "
                    f"{os.fspath(images[0])!r} has {first.shape}; pass size=(height, width) "
                    "to resize every image to one size."
                )
            batch.append(image)
        yield np.stack(batch)


def _resize_batch(batch, size):
    if size is None or tuple(batch.shape[1:3]) == tuple(size):
        return batch
    from PIL import Image

    resized = [
        np.stack(
            [
                np.asarray(
                    Image.fromarray(channel).resize((size[1], size[0]), Image.Resampling.BILINEAR)
                )
                for channel in np.moveaxis(image, -1, 0)
            ],
            axis=-1,
        )
        for image in batch
    ]
    return np.clip(np.stack(resized), 0, 1).astype(np.float32)


def load_image_folder(
    folder, *, labels_from_subfolders=False, suffixes=IMAGE_SUFFIXES, on_error="raise"
):
    """List the image files below `folder` (recursively, sorted), optionally with labels.

    Parameters
    ----------
    folder : str or os.PathLike
    labels_from_subfolders : bool, default=False
        Label every file by the name of the top-level sub-folder it lies in (files directly
        in `folder` are then an error).
    suffixes : tuple of str, default=IMAGE_SUFFIXES
        File suffixes (case-insensitive) that count as images.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file Pillow cannot read: raise an error naming it, or leave it
        out and report it in ``skipped``. Checking opens every file's header once.

    Returns
    -------
    result : Bunch
        ``paths`` (list of str, sorted), ``labels`` (int array or None), ``class_names``
        (list of str or None), ``kept_indices`` (indices of the kept files among all image
        files found, sorted) and ``skipped`` (list of str).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"folder {os.fspath(folder)!r} is not a directory.")
    wanted = tuple(suffix.lower() for suffix in suffixes)
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not found:
        raise ValueError(f"No image files ({', '.join(wanted)}) below {os.fspath(folder)!r}.")
    kept, skipped = [], []
    for index, path in enumerate(found):
        if on_error == "skip" and not _readable(path):
            skipped.append(str(path))
        else:
            kept.append(index)
    paths = [str(found[i]) for i in kept]
    labels = class_names = None
    if labels_from_subfolders:
        parts = [Path(path).relative_to(root).parts for path in paths]
        loose = [path for path, part in zip(paths, parts) if len(part) < 2]
        if loose:
            raise ValueError(
                f"labels_from_subfolders=True but {loose[0]!r} lies directly in the folder."
            )
        class_names = sorted({part[0] for part in parts})
        labels = np.array([class_names.index(part[0]) for part in parts], dtype=np.int64)
    return Bunch(
        paths=paths,
        labels=labels,
        class_names=class_names,
        kept_indices=np.array(kept, dtype=np.intp),
        skipped=skipped,
    )


def _readable(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # noqa: BLE001 - any failure means Pillow cannot use the file
        return False
    return True
