"""Validation of the metrics' inputs (labels, rankings, curve lengths, maps).

Public within the package: the plotting Displays validate what they draw with these, so a
bad input gets the same message from a metric and from its picture.
"""

import numbers

import numpy as np
from sklearn.utils.validation import column_or_1d


def count_classes(y):
    """Number of distinct labels of a validated label vector."""
    return int(unique_labels(y).shape[0])


def unique_labels(labels, **kwargs):
    """``np.unique`` of labels, with an error naming `y` if they cannot be sorted."""
    try:
        return np.unique(labels, **kwargs)
    except TypeError as exc:
        raise TypeError(
            "y must hold labels of one comparable type (e.g. all int or all str); "
            f"sorting them failed with: {exc}"
        ) from exc


def check_labels(y):
    """Validate `y`: a non-empty 1-D vector of labels with no missing value."""
    if np.ndim(y) > 2:
        raise ValueError(f"y must be a 1-D array of labels, got {np.ndim(y)} dimensions.")
    y = column_or_1d(y, input_name="y", warn=True)
    if y.shape[0] == 0:
        raise ValueError("y must hold at least one label, got an empty array.")
    if has_nan(y):
        raise ValueError("y contains NaN; every item needs a class label.")
    return y


def has_nan(y):
    """Whether a validated label vector has a missing (NaN) label."""
    if y.dtype.kind in "fc":
        return bool(np.isnan(y).any())
    if y.dtype == object:
        return any(label != label for label in y)
    return False


def check_ranking(ranking, n_samples):
    """Validate `ranking`: distinct integer row indices into an array of n_samples."""
    ranking = np.asarray(ranking)
    if ranking.ndim != 1:
        raise ValueError(f"ranking must be a 1-D array of row indices, got shape {ranking.shape}.")
    if ranking.shape[0] == 0:
        raise ValueError("ranking must hold at least one row index, got an empty array.")
    if ranking.dtype.kind not in "iu":
        raise TypeError(f"ranking must hold integer row indices, got dtype {ranking.dtype}.")
    if ranking.min() < 0 or ranking.max() >= n_samples:
        raise ValueError(
            f"ranking must hold row indices in [0, {n_samples}) (the length of y), "
            f"got values from {ranking.min()} to {ranking.max()}."
        )
    ranking = ranking.astype(np.intp, copy=False)
    counts = np.bincount(ranking, minlength=n_samples)
    if counts.max() > 1:
        repeated = np.flatnonzero(counts > 1)
        raise ValueError(
            f"ranking must not repeat a row index; {repeated.shape[0]} repeated, "
            f"e.g. {repeated[0]}."
        )
    return ranking


def check_t(t, upper, of):
    """Validate a curve length `t` in ``[1, upper]``; None means `upper`."""
    if t is None:
        return upper
    if isinstance(t, bool) or not isinstance(t, numbers.Integral):
        raise ValueError(f"t must be an integer or None, got {t!r}.")
    if not 1 <= t <= upper:
        raise ValueError(f"t must be in [1, {upper}] (the length of {of}), got t={t}.")
    return int(t)


def check_maps(maps, name):
    """Validate one map or a batch; return it as a float (n, H, W) array and whether single."""
    try:
        array = np.asarray(maps)
    except Exception as error:  # noqa: BLE001 - ragged input and the like
        raise ValueError(f"{name} must be an array of shape (H, W) or (n, H, W).") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {array.dtype}.")
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(
            f"{name} must be one map of shape (H, W) or a batch of shape (n, H, W), with no "
            f"empty axis; got shape {array.shape}."
        )
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity.")
    single = array.ndim == 2
    return (array[np.newaxis] if single else array), single


def check_map_pair(a, b, names):
    """Validate two maps or batches of one shape; return both as (n, H, W) and whether single."""
    a_checked, single = check_maps(a, names[0])
    b_checked, _ = check_maps(b, names[1])
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape; got {np.shape(a)} and "
            f"{np.shape(b)}."
        )
    return a_checked, b_checked, single


def check_k(k, n_pixels):
    """Validate a number of top pixels `k` in ``[1, n_pixels]``."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TypeError(f"k must be an integer; got {k!r}.")
    if not 1 <= k <= n_pixels:
        raise ValueError(f"k={k} must be in [1, {n_pixels}], the number of pixels of a map.")
    return int(k)
