"""Image input: validate arrays, read files lazily in batches, list a folder of images.

Images are handed to featurizers either as an array -- (n, H, W) greyscale or (n, H, W, C)
channels-last, uint8 in [0, 255] or float in [0, 1] -- or as a sequence of file paths, read
with Pillow one batch at a time so that memory stays bounded by the batch size.
Every batch comes out as float32 (b, H, W, C) in [0, 1].

One resize policy
-----------------
Wherever images of different sizes must become one size (``size=(height, width)`` of
:func:`load_image`, :func:`iter_image_batches`, ``PixelFeaturizer``, ``SIFTBoWFeaturizer``,
the maps of ``NoveltyMap``), :func:`fit_to_size` applies the same rule: scale the image,
keeping its aspect ratio, until it just covers (height, width) -- the shorter side (relative
to the target) fits exactly -- with antialiased bilinear interpolation on float pixels, then
cut the centred (height, width) window. Nothing is stretched and nothing is padded; a 1 x 1
image becomes a uniform one. ``CNNFeaturizer`` follows the same rule in torch: its shorter
side goes to ``crop_size x 256 / 224`` and the centre ``crop_size`` square is kept.

How files are read
------------------
Every Pillow mode becomes float32 in [0, 1], one channel (grey) or three (colour):

=================================  ========  ==============================================
Pillow mode                        channels  values
=================================  ========  ==============================================
``1`` (bilevel)                    grey      0 or 1
``L``                              grey      / 255
``I;16``, ``I;16L/B/N`` (16 bit)   grey      / 65535
``I`` (32-bit int)                 grey      / 65535: Pillow hands 16-bit data over as ``I``
                                             (PNG, TIFF, PGM); values outside [0, 65535]
                                             are an error naming the file
``F`` (32-bit float)               grey      as stored; they must lie in [0, 1] (else an
                                             error naming the file), as for float arrays
``LA``, ``La``                     grey      composited over white (see below)
``P`` (palette)                    colour    the palette's RGB; transparency composited
``RGB``, ``CMYK``, ``YCbCr``, ...  colour    Pillow's conversion to RGB, / 255
``RGBA``, ``RGBa``, ``PA``         colour    composited over white
=================================  ========  ==============================================

**Transparency** (an alpha channel, or a ``transparency`` entry of a palette, grey or RGB
image) is composited over a white background, ``value x alpha + 1 x (1 - alpha)``, as an image
viewer on a white page shows it, so that what hides under transparent pixels never reaches the
features. Pillow keeps at most 8 bits per colour channel (16-bit RGB files arrive as 8-bit).

**Grey and colour in one list of files**: when a list of paths mixes grey and colour files,
every file is read as colour (grey repeated over three channels) -- whenever any file is
colour, the whole list is; :func:`files_mode` decides by reading file headers, stopping at the
first colour file. A featurizer fitted on files keeps the channels it was fitted with.
``CNNFeaturizer`` always reads colour.

**Orientation**: a file whose EXIF ``Orientation`` tag (0x0112, e.g. a phone photo taken
upright, stored sideways) says it is rotated or mirrored is turned upright as it is read, as
every image viewer shows it; heights, widths and the resize policy apply to the upright
image. An EXIF block Pillow cannot parse is ignored (the pixels are used as stored), as
viewers do.
"""

import os
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

#: File suffixes (lower case) that :func:`load_image_folder` treats as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: Pillow modes read as one grey channel; every other mode is read as colour.
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
#: EXIF tag number of the orientation.
EXIF_ORIENTATION = 0x0112


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
        uint8 in [0, 255] or float in [0, 1], C in {1, 3, 4}; H and W at least 1.
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
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(
            f"{name} holds images without pixels: shape {images.shape} has height "
            f"{images.shape[1]} and width {images.shape[2]}; both must be at least 1."
        )
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
    problem = unit_range_problem(images)
    if problem:
        raise ValueError(
            f"float {name} {problem} (divide uint8-range data by 255, or pass it as uint8)."
        )
    return images


def to_unit_float(images, dtype=np.float32):
    """Pixels as floats in [0, 1]: uint8 divided by 255, float cast to `dtype`.

    The package's one conversion of pixel values; validate first (e.g. with
    :func:`check_image_array`), this checks nothing.

    Parameters
    ----------
    images : ndarray
        uint8 in [0, 255] or float in [0, 1], any shape.
    dtype : numpy float dtype, default=np.float32

    Returns
    -------
    images : ndarray of `dtype`
        `images` itself when it is already of `dtype`.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return np.divide(images, 255, dtype=dtype)
    return images.astype(dtype, copy=False)


def check_fitted_images(X, estimator, *, fitted_attribute=None):
    """Validate images for a fitted estimator: fitted, valid, and of the shape it was fitted on.

    Parameters
    ----------
    X : ndarray of shape (n, H, W) or (n, H, W, C)
    estimator : estimator with ``input_shape_``
        Raises NotFittedError (from scikit-learn's ``check_is_fitted``) when not fitted.
    fitted_attribute : str or None, default=None
        The attribute that shows `estimator` is fitted; None: any learned attribute.

    Returns
    -------
    images : ndarray of shape (n, H, W, C)
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, fitted_attribute)
    images = check_image_array(X)
    if images.shape[1:] != estimator.input_shape_:
        raise ValueError(
            f"X has images of shape {images.shape[1:]} (height, width, channels), but "
            f"{type(estimator).__name__} was fitted on {estimator.input_shape_}."
        )
    return images


def image_estimator_tags(tags):
    """scikit-learn tags of an estimator fitted on image arrays (n, H, W[, C]), not tables.

    Parameters
    ----------
    tags : sklearn.utils.Tags
        The tags from ``super().__sklearn_tags__()``; changed in place.

    Returns
    -------
    tags : sklearn.utils.Tags
    """
    tags.input_tags.two_d_array = False
    tags.input_tags.three_d_array = True
    tags.requires_fit = True
    return tags


def unit_range_problem(values):
    """What keeps float pixels from lying in [0, 1], or "" when they do.

    Parameters
    ----------
    values : ndarray of float

    Returns
    -------
    problem : str
        "contains NaN or infinity", "must lie in [0, 1]; got values in [low, high]" or "".
    """
    if not np.all(np.isfinite(values)):
        return "contains NaN or infinity"
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        return f"must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}]"
    return ""


def check_size(size, *, name="size"):
    """Refuse a `size` that is neither None nor (height, width) of positive ints."""
    if size is not None and (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in size)
        or min(size) < 1
    ):
        raise ValueError(f"{name} must be None or (height, width) of positive ints; got {size!r}.")


def fit_geometry(shape, size):
    """Where the resize policy puts an image of `shape`: its resized shape and crop corner.

    Parameters
    ----------
    shape : tuple (height, width)
        The image's size, both at least 1.
    size : tuple (height, width)
        The target size.

    Returns
    -------
    resized : tuple (height, width)
        The size the image is scaled to (aspect ratio kept, covering `size`).
    corner : tuple (top, left)
        The top-left corner of the centred `size` window in the resized image.
    """
    height, width = (int(v) for v in shape)
    if height < 1 or width < 1:
        raise ValueError(f"Cannot resize an image of {height} x {width} pixels.")
    scale = max(size[0] / height, size[1] / width)
    resized = (max(size[0], round(height * scale)), max(size[1], round(width * scale)))
    corner = (int(round((resized[0] - size[0]) / 2.0)), int(round((resized[1] - size[1]) / 2.0)))
    return resized, corner


def fit_to_size(images, size):
    """Apply the package's one resize policy to an image or a batch of images.

    The image is scaled, keeping its aspect ratio, until it just covers `size`
    (antialiased bilinear interpolation of float pixels, Pillow's), then the centred
    `size` window is kept. Images already of `size` are returned unchanged.

    Parameters
    ----------
    images : ndarray of shape (H, W, C) or (n, H, W, C)
        Float pixels in [0, 1] (uint8 is divided by 255).
    size : tuple (height, width) or None
        None returns `images` as float32 unchanged.

    Returns
    -------
    fitted : ndarray of shape (size[0], size[1], C) or (n, size[0], size[1], C), float32
    """
    images = to_unit_float(images)
    if size is None:
        return images
    check_size(size)
    if images.ndim == 4:
        if tuple(images.shape[1:3]) == tuple(size):
            return images
        return np.stack([fit_to_size(image, size) for image in images])
    if images.ndim != 3:
        raise ValueError(f"fit_to_size needs (H, W, C) or (n, H, W, C); got {images.shape}.")
    if tuple(images.shape[:2]) == tuple(size):
        return images
    from PIL import Image

    (height, width), (top, left) = fit_geometry(images.shape[:2], size)
    channels = []
    for channel in np.moveaxis(images, -1, 0):
        resized = np.ascontiguousarray(channel)
        if resized.shape != (height, width):
            resized = np.asarray(
                Image.fromarray(resized).resize((width, height), Image.Resampling.BILINEAR)
            )
        channels.append(resized[top : top + size[0], left : left + size[1]])
    return np.clip(np.stack(channels, axis=-1), 0, 1).astype(np.float32, copy=False)


def torch_fit_to_size(images, size):
    """:func:`fit_to_size` for torch tensors (n, C, H, W), differentiable.

    Uses torch's antialiased bilinear interpolation, which matches Pillow's to within float
    rounding.

    Parameters
    ----------
    images : torch.Tensor of shape (n, C, H, W)
    size : tuple (height, width)

    Returns
    -------
    fitted : torch.Tensor of shape (n, C, size[0], size[1])
    """
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) == tuple(size):
        return images
    resized, (top, left) = fit_geometry(images.shape[-2:], size)
    if resized != tuple(images.shape[-2:]):
        images = F.interpolate(images, size=resized, mode="bilinear", antialias=True)
    return images[..., top : top + size[0], left : left + size[1]]


def files_mode(paths):
    """``"RGB"`` if any of the files is colour (by its header), else ``"L"``.

    Reads headers only, and stops at the first colour file; unreadable files are passed over
    (reading them later raises an error that names them).

    Parameters
    ----------
    paths : sequence of str or os.PathLike

    Returns
    -------
    mode : {"L", "RGB"}
    """
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode not in GREY_MODES:
                    return "RGB"
        except Exception:  # noqa: BLE001 - reported when the file is read
            continue
    return "L"


def picked_images(images, indices, *, size=None, mode=None):
    """Images `indices` of an array or list of paths, as one float (k, H, W, C) array.

    Files are read only for the given indices. Grey files among colour ones are repeated
    over three channels. Without `size`, the images must share one size.

    Parameters
    ----------
    images : ndarray of shape (n, H, W[, C]) or list of image file paths
    indices : sequence of int
    size : tuple (height, width) or None, default=None
        Fit every image to this size (the package's resize policy); None: as they are.
    mode : {"L", "RGB"} or None, default=None
        How files are read (see :func:`sknovel.features.load_image`).

    Returns
    -------
    images : ndarray of shape (k, H, W, C), float in [0, 1]
        float32, except float arrays taken as they are when `size` is None.
    """
    indices = [int(index) for index in indices]
    if not is_path_sequence(images):
        picked = check_image_array(np.asarray(images)[indices], name="images")
        if size is None and picked.dtype != np.uint8:
            return picked  # float images as given (their dtype kept)
        return fit_to_size(picked, size)
    pictures = [load_image(images[index], mode=mode, size=size) for index in indices]
    if len({picture.shape[-1] for picture in pictures}) > 1:
        pictures = [np.repeat(p, 3, axis=-1) if p.shape[-1] == 1 else p for p in pictures]
    shapes = {picture.shape[:2] for picture in pictures}
    if len(shapes) > 1:
        raise ValueError(
            f"The picked image files have different sizes {sorted(shapes)}; pass "
            "size=(height, width) to fit them to one size."
        )
    return np.stack(pictures)


def _pil_errors():
    from PIL import Image, UnidentifiedImageError

    return (
        OSError,
        UnidentifiedImageError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    )


def load_image(path, *, mode=None, size=None):
    """Read one image file as a float32 (H, W, C) array in [0, 1].

    Every Pillow mode is scaled by its real range (16-bit data by 65535, 8-bit by 255,
    floats as they are), transparency is composited over white, and an EXIF orientation
    is applied (the image comes out upright, as viewers show it); the module docstring
    has the table.

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"L", "RGB"} or None, default=None
        ``"L"``: one grey channel (colour by Pillow's ITU-R BT.601 luma); ``"RGB"``: three
        channels (grey repeated); None: grey modes give one channel, others three.
    size : tuple (height, width) or None, default=None
        Fit the image to this size with the package's resize policy (:func:`fit_to_size`:
        aspect ratio kept, shorter side covering, centre crop).

    Returns
    -------
    image : ndarray of shape (H, W, C), float32

    Raises
    ------
    ValueError
        If the file is missing, unreadable, truncated, not an image, without pixels, a
        decompression bomb (more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, when Pillow
        raises) or holds values outside its mode's range; the message names the file.
    """
    check_size(size)
    return fit_to_size(to_unit_float(read_image_pixels(path, mode=mode)), size)


def read_image_pixels(path, *, mode=None):
    """Read one image file as :func:`load_image` does, leaving 8-bit pixels as uint8.

    Files of 8-bit modes without transparency come out as their uint8 values (0-255), every
    other file as :func:`load_image`'s float32 values in [0, 1]; :func:`to_unit_float` turns
    either into exactly what :func:`load_image` returns. A batch is then converted in one
    call, after the decoding, instead of file by file.

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"L", "RGB"} or None, default=None
        As for :func:`load_image`.

    Returns
    -------
    pixels : ndarray of shape (H, W, C), uint8 or float32

    Raises
    ------
    ValueError
        As :func:`load_image`.
    """
    if mode not in (None, "L", "RGB"):
        raise ValueError(f"mode must be None, 'L' or 'RGB'; got {mode!r}.")
    from PIL import Image

    try:
        with Image.open(path) as image:
            _check_has_pixels(image)
            image.load()
            return _to_pixels(_upright(image), mode)
    except _pil_errors() as error:
        raise ValueError(f"Cannot read image file {os.fspath(path)!r}: {error}") from error


def _upright(image):
    """`image` turned as its EXIF orientation says (a new image), or `image` itself."""
    from PIL import Image

    turns = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    try:
        turn = turns.get(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - unparsable EXIF: the pixels as stored, as viewers do
        return image
    return image if turn is None else image.transpose(turn)


def _check_has_pixels(image):
    if image.width < 1 or image.height < 1:
        raise ValueError(f"it has no pixels ({image.width} x {image.height})")


def _to_pixels(image, mode):
    """A loaded Pillow image as (H, W, C) pixels: uint8 for 8-bit modes without transparency,
    else float32 in [0, 1] (see the module docstring)."""
    grey = image.mode in GREY_MODES
    if grey and image.mode not in ("1", "L", "LA", "La"):
        array = _wide_grey(image)[..., np.newaxis]
    else:
        alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
        if grey:
            target = "L" if mode in (None, "L") else "RGB"
        else:
            target = "RGB" if mode in (None, "RGB") else "L"
            image = image.convert("RGBA" if alpha else "RGB")  # P, CMYK, YCbCr, ... to RGB
        image = image.convert(target + "A" if alpha else target)
        array = np.array(image)  # writable, unlike np.asarray of a Pillow image
        if array.ndim == 2:
            array = array[..., np.newaxis]
        if alpha:
            array = to_unit_float(array)
            opacity = array[..., -1:]
            array = array[..., :-1] * opacity + (1 - opacity)
    if mode == "RGB" and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


def _wide_grey(image):
    """Float (H, W) in [0, 1] of a 16-bit, 32-bit int or float grey image."""
    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        return values.astype(np.float32) / np.float32(65535)
    if image.mode == "I":
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ValueError(
                f"its 32-bit integer pixels (mode I) lie in [{low}, {high}]; sknovel reads "
                "mode I as 16-bit data in [0, 65535] -- save it as 8- or 16-bit"
            )
        return values.astype(np.float32) / np.float32(65535)
    values = values.astype(np.float32)  # mode F
    problem = unit_range_problem(values)
    if problem:
        raise ValueError(
            f"its float pixels (mode F) {problem}; sknovel reads float images as finite "
            "values in [0, 1] -- rescale it"
        )
    return values


def iter_image_batches(images, batch_size, *, size=None, mode=None, name="X"):
    """Yield float32 batches (b, H, W, C) in [0, 1] of an image array or list of paths.

    Files are read only when their batch is due. All images must share one size unless
    `size` is given (then every image is fitted to it by :func:`fit_to_size`).

    Parameters
    ----------
    images : ndarray or sequence of paths
    batch_size : int
    size : tuple (height, width) or None, default=None
    mode : {"L", "RGB"} or None, default=None
        How files are read (see :func:`load_image`); None: ``"RGB"`` if any file is
        colour, else ``"L"`` (:func:`files_mode`). Ignored for arrays.
    name : str, default="X"

    Yields
    ------
    batch : ndarray of shape (b, H, W, C), float32
    """
    if not is_path_sequence(images):
        array = check_image_array(images, name=name)
        for start in range(0, len(array), batch_size):
            yield fit_to_size(array[start : start + batch_size], size)
        return
    if len(images) == 0:
        raise ValueError(f"{name} is an empty list of image files.")
    if mode is None:
        mode = files_mode(images)
    first = None
    for start in range(0, len(images), batch_size):
        batch = []
        for path in images[start : start + batch_size]:
            image = load_image(path, mode=mode, size=size)
            if first is None:
                first = (path, image.shape)
            elif image.shape != first[1]:
                raise ValueError(
                    f"Image file {os.fspath(path)!r} has shape {image.shape} but "
                    f"{os.fspath(first[0])!r} has {first[1]}; pass size=(height, width) "
                    "to fit every image to one size."
                )
            batch.append(image)
        yield np.stack(batch)


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
        What to do with a file Pillow cannot read: raise an error naming it (when it is
        read), or leave it out and report it in ``skipped`` with the reason in
        ``skip_reasons``. Checking decodes every file once at listing (JPEGs at 1/8 scale,
        which still reads all their data): it catches truncated files, bad data, files
        without pixels and decompression bombs, at the cost of about one decode per file.

    Returns
    -------
    result : Bunch
        ``paths`` (list of str, sorted), ``labels`` (int array or None), ``class_names``
        (list of str or None), ``kept_indices`` (indices of the kept files among all image
        files found, sorted), ``skipped`` (list of str, the left-out files) and
        ``skip_reasons`` (list of str, why each was left out, parallel to ``skipped``).
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
    kept, skipped, reasons = [], [], []
    for index, path in enumerate(found):
        reason = image_file_problem(path) if on_error == "skip" else None
        if reason is None:
            kept.append(index)
        else:
            skipped.append(str(path))
            reasons.append(reason)
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
        skip_reasons=reasons,
    )


def image_file_problem(path):
    """Why Pillow cannot use the file at `path`, or None when it decodes completely.

    Verifies the file's structure, then decodes it on a fresh open (JPEGs at reduced scale:
    the decoder still reads every byte, so truncation is found at an eighth of the cost).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    reason : str or None
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            _check_has_pixels(image)
            image.verify()
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft(image.mode, (1, 1))
            image.load()
            if image.mode in ("I", "F"):
                _wide_grey(image)
    except Image.DecompressionBombError as error:
        return f"decompression bomb: {error}"
    except Exception as error:  # noqa: BLE001 - any failure means Pillow cannot use the file
        return str(error) or type(error).__name__
    return None
