"""The collections a discovery report ranks: demo sets, ``.npz`` files and image folders.

Each loader returns a :class:`~sklearn.utils.Bunch` with ``images`` (an image array, a 2-D
feature array, or a list of file paths), ``labels`` (or None), ``class_names`` ({label: name}
of the labels present, or None), ``item_names`` (one str per item), ``source`` (where the
data come from, one line), ``description`` (one line for the log and the report), and
``attribution`` (licence text to show with the data, or ``""``). A problem with the input
raises a ``ValueError`` whose message starts with the file or folder it concerns.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import zipfile
import zlib

import numpy as np
from sklearn.utils import Bunch

#: The demo sets of ``sknovel discover --demo``.
DEMOS = ("mars", "digits")


def load_demo(name="mars"):
    """A demo collection: the Mars rover images (``"mars"``) or scikit-learn's digits.

    Parameters
    ----------
    name : {"mars", "digits"}, default="mars"
        ``"mars"`` needs :func:`sknovel.datasets.load_mars_demo` (the package data of the
        MSL images); ``"digits"`` is scikit-learn's 1 797 handwritten 8x8 digits.

    Returns
    -------
    data : Bunch
        As described in the module docstring.
    """
    if name not in DEMOS:
        raise ValueError(f"name must be one of {DEMOS}; got {name!r}.")
    return load_mars() if name == "mars" else load_digits()


def mars_available():
    """Whether this installation ships the Mars rover demo set."""
    from sknovel import datasets

    return hasattr(datasets, "load_mars_demo")


def load_mars():
    """The Mars rover demo set (MSL images, CC BY-SA 4.0) as a collection."""
    if not mars_available():
        raise ValueError(
            "the Mars rover demo set is not part of this installation "
            "(sknovel.datasets.load_mars_demo is missing); use the digits demo instead."
        )
    from sknovel.datasets import load_mars_demo

    mars = load_mars_demo()
    images, labels = np.asarray(mars.images), np.asarray(mars.target)
    names = np.asarray(mars.target_names)
    height, width = images.shape[1:3]
    present = np.unique(labels)
    return Bunch(
        images=images,
        labels=labels,
        class_names={int(label): str(names[label]) for label in present},
        item_names=[str(name) for name in np.asarray(mars.source_ids)],
        source="Mars rover (MSL) demo images",
        description=(
            f"Mars Science Laboratory rover images ({len(images)} images, {height}x{width}, "
            f"{len(present)} classes)"
        ),
        attribution=str(getattr(mars, "DESCR", "")),
    )


def load_digits():
    """scikit-learn's digits as a collection (images in [0, 1])."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return Bunch(
        images=digits.images / 16.0,
        labels=digits.target,
        class_names={int(label): str(label) for label in digits.target_names},
        item_names=[f"digit {i}" for i in range(len(digits.target))],
        source="scikit-learn digits",
        description="scikit-learn digits (1 797 images, 8x8, 10 classes)",
        attribution="",
    )


def load_npz(path):
    """The arrays of an ``.npz`` file, checked, as a collection.

    The file holds ``images`` (n, H, W[, C]) or ``X`` (n, d), and ``labels`` or ``y`` (1-D,
    one per item), and optionally ``class_names`` (label-indexed: the name of label i is
    ``class_names[i]``).

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    data : Bunch
        As described in the module docstring.
    """
    if not path.exists():
        raise ValueError(f"{path}: no such file.")
    if not path.is_file():
        raise ValueError(f"{path} is not a file.")
    arrays, files = _read_npz(path)
    key_x = "images" if "images" in arrays else "X"
    key_y = "labels" if "labels" in arrays else "y"
    if key_x not in arrays or key_y not in arrays:
        raise ValueError(
            f"{path} must hold arrays 'images' (or 'X') and 'labels' (or 'y'); it has {files}."
        )
    images = check_npz_items(arrays[key_x], f"{path}: '{key_x}'")
    labels = check_labels(arrays[key_y], len(images), f"{path}: '{key_y}'")
    names = label_names(labels, arrays.get("class_names"), f"{path}: 'class_names'")
    return Bunch(
        images=images,
        labels=labels,
        class_names=names,
        item_names=[f"item {i}" for i in range(len(images))],
        source=str(path),
        description=f"{path} ({len(images)} items)",
        attribution="",
    )


def _read_npz(path):
    """({name: array} of the arrays a report uses, names of all arrays) of an .npz file."""
    unreadable = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        data = np.load(path, allow_pickle=False)
    except unreadable as error:
        raise ValueError(f"{path} is not a readable .npz file ({error}).") from error
    if not hasattr(data, "files"):
        raise ValueError(f"{path} holds one array (.npy), not an .npz archive.")
    arrays = {}
    with data:
        for key in ("images", "X", "labels", "y", "class_names"):
            if key not in data.files:
                continue
            try:
                arrays[key] = data[key]
            except ValueError as error:
                if "allow_pickle" not in str(error):
                    raise ValueError(f"{path}: '{key}' is unreadable ({error}).") from error
                raise ValueError(
                    f"{path}: '{key}' is an object-dtype array (Python objects); save it as "
                    "numbers or strings."
                ) from error
            except unreadable as error:
                raise ValueError(f"{path}: '{key}' is unreadable ({error}).") from error
        files = list(data.files)
    return arrays, files


def check_npz_items(array, where):
    """The items of an .npz file: 2-D numbers (features, as float64) or an image array."""
    from sknovel.utils.images import check_image_array

    if array.dtype.kind not in "biuf":
        raise ValueError(f"{where} must hold numbers; got dtype {array.dtype}.")
    if array.ndim == 2:
        if len(array) == 0:
            raise ValueError(f"{where} holds no items (shape {array.shape}).")
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{where} contains NaN or infinity.")
        return array
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{where} must have shape (n, d) of features or (n, H, W[, C]) of images; "
            f"got {array.shape}."
        )
    check_image_array(array, name=where)
    return array


def check_labels(labels, n_items, where):
    """`labels` as a 1-D array of one integer or string label per item.

    Parameters
    ----------
    labels : array-like
    n_items : int
    where : str
        What the labels are called in messages.

    Returns
    -------
    labels : ndarray of shape (n_items,)
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{where} must be 1-D (one label per item); got shape {labels.shape}.")
    if labels.dtype.kind not in "biuUS":
        if labels.dtype.kind != "f" or not np.all(labels == np.round(labels)):
            raise ValueError(f"{where} must hold integers or strings; got dtype {labels.dtype}.")
        labels = labels.astype(np.int64)
    if len(labels) != n_items:
        raise ValueError(
            f"{where} has {len(labels)} labels for {n_items} items; give exactly one per item."
        )
    return labels


def label_names(labels, class_names, where):
    """{label: name} for every label present; `class_names` is label-indexed.

    Without `class_names` each label names itself. A mapping is taken as {label: name}. A
    sequence requires integer labels 0 .. len(class_names) - 1: the name of label i is
    ``class_names[i]``, whether or not every class has items.

    Parameters
    ----------
    labels : ndarray of shape (n,)
    class_names : sequence, mapping or None
    where : str
        What the names are called in messages.

    Returns
    -------
    names : dict
    """
    present = np.unique(labels)
    if class_names is None:
        return {label.item(): str(label) for label in present}
    if isinstance(class_names, dict):
        missing = [label.item() for label in present if label.item() not in class_names]
        if missing:
            raise ValueError(f"{where} has no name for label {missing[0]!r}.")
        return {label.item(): str(class_names[label.item()]) for label in present}
    class_names = np.asarray(class_names)
    if class_names.ndim != 1:
        raise ValueError(f"{where} must be 1-D; got shape {class_names.shape}.")
    if labels.dtype.kind not in "biu":
        raise ValueError(
            f"{where} names labels 0 .. {len(class_names) - 1}, but the labels are "
            f"{labels.dtype} values; store integer labels with class_names."
        )
    if present[0] < 0 or present[-1] >= len(class_names):
        raise ValueError(
            f"{where} has {len(class_names)} names but the labels run from {present[0]} to "
            f"{present[-1]}; give one name for each label 0 .. {present[-1]}."
        )
    return {label.item(): str(class_names[label]) for label in present}


def load_folder(folder, labels_from_subfolders=False, check_files=True):
    """The image files below a folder, checked, as a collection.

    Unreadable files are left out and listed in ``skipped``: (file, why).

    Parameters
    ----------
    folder : pathlib.Path
    labels_from_subfolders : bool, default=False
        Label each image by its top-level sub-folder.
    check_files : bool, default=True
        Decode every file here to find the unreadable ones; False only lists them (a Dask
        run checks them where its workers are).

    Returns
    -------
    data : Bunch
        As described in the module docstring, plus ``skipped``.
    """
    from sknovel.features import load_image_folder

    if not folder.exists():
        raise ValueError(f"{folder}: no such folder.")
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder.")
    try:
        found = load_image_folder(
            folder,
            labels_from_subfolders=labels_from_subfolders,
            on_error="skip" if check_files else "raise",
        )
    except ValueError as error:
        raise ValueError(f"{folder}: {error}") from error
    reasons = getattr(found, "skip_reasons", None)
    if reasons is None or len(reasons) != len(found.skipped):
        reasons = ["unreadable"] * len(found.skipped)
    skipped = list(zip(found.skipped, reasons))
    if not found.paths:
        raise ValueError(f"{folder}: no readable image files found ({len(skipped)} skipped).")
    names = None
    if found.labels is not None:
        names = {label.item(): found.class_names[label] for label in np.unique(found.labels)}
    return Bunch(
        images=found.paths,
        labels=found.labels,
        class_names=names,
        item_names=list(found.paths),
        source=str(folder),
        description=f"{folder} ({len(found.paths)} images)",
        attribution="",
        skipped=skipped,
    )
