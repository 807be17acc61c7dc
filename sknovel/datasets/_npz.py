"""Find and load labelled image sets kept as ``.npz`` files (``images``, ``labels``, ...)."""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

#: Environment variable naming a folder of data files, searched before anything else.
DATA_ENV = "SKNOVEL_DATA"


def find_data_file(name, *, start=None):
    """Locate a data file such as ``"mnist_test.npz"`` without downloading anything.

    Looks in the folder named by the ``SKNOVEL_DATA`` environment variable, then in
    ``shared/data/`` inside `start` and each folder above it (the project keeps its
    evaluation sets there, beside the repository).

    Parameters
    ----------
    name : str
        File name, e.g. ``"msl_v1_96px.npz"``.
    start : str or path-like, default=None
        Folder to start the upward search from; None uses the current working directory.

    Returns
    -------
    path : pathlib.Path or None
        The file, or None when it is nowhere to be found.

    Examples
    --------
    >>> from sknovel.datasets import find_data_file
    >>> find_data_file("no-such-file.npz") is None
    True
    """
    if os.environ.get(DATA_ENV):
        candidate = Path(os.environ[DATA_ENV]) / name
        if candidate.is_file():
            return candidate
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "shared" / "data" / name
        if candidate.is_file():
            return candidate
    return None


def load_labelled_images(path, *, n_samples=None, classes=None, random_state=None):
    """Load a labelled image set from an ``.npz`` file with ``images`` and ``labels`` arrays.

    Parameters
    ----------
    path : str or path-like
        The file (``np.load`` with ``allow_pickle=False``).
    n_samples : int, default=None
        Keep a random subset of this many images (in their original order); None keeps all.
    classes : sequence of int, default=None
        Keep only images whose label is one of these.
    random_state : None, int or numpy.random.Generator, default=None
        Draws the subset when `n_samples` is given.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (uint8), ``labels`` (int), ``class_names`` (str, when the file has them)
        and ``indices``: the row of each kept image in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r} is not a file.")
    with np.load(path, allow_pickle=False) as data:
        if "images" not in data.files or "labels" not in data.files:
            raise ValueError(f"{path} must hold arrays 'images' and 'labels'; it has {data.files}.")
        images, labels = data["images"], data["labels"]
        class_names = data["class_names"] if "class_names" in data.files else None
    keep = np.arange(len(labels))
    if classes is not None:
        keep = keep[np.isin(labels, np.asarray(classes))]
    if n_samples is not None:
        if not 1 <= n_samples <= len(keep):
            raise ValueError(f"n_samples must be in [1, {len(keep)}]; got {n_samples}.")
        keep = np.sort(np.random.default_rng(random_state).choice(keep, n_samples, replace=False))
    result = Bunch(images=images[keep], labels=labels[keep], indices=keep)
    if class_names is not None:
        result.class_names = class_names
    return result
