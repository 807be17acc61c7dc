"""The one check of outlier labels: 1 for a normal sample, -1 for an anomalous one."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np


def check_outlier_labels(y, n_samples, *, outlier_name="anomalous", min_normal=1):
    """`y` as int labels, 1 (normal) or -1 (anomalous), one per image of X; None: all 1.

    The labels are those that scikit-learn's outlier detectors' ``predict`` returns.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or None
        The labels to check, numbers equal to 1 or -1. None labels every image normal.
    n_samples : int
        Number of images in X.
    outlier_name : str, default="anomalous"
        What the error messages call an image labelled -1 (e.g. "outlier").
    min_normal : int, default=1
        Fewest images that must be labelled normal.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int

    Raises
    ------
    ValueError
        If `y` does not hold one label per image, holds a value other than 1 or -1 (or is
        not numeric), or labels fewer than `min_normal` images normal.
    """
    if y is None:
        return np.ones(n_samples, dtype=int)
    labels = np.asarray(y)
    if labels.shape != (n_samples,):
        raise ValueError(
            f"y must hold one label per image of X, shape ({n_samples},): 1 for normal, -1 "
            f"for {outlier_name} images; got shape {labels.shape}."
        )
    if labels.dtype.kind not in "iuf" or not np.all(np.isin(labels, (1, -1))):
        others = [value for value in labels.tolist() if value not in (1, -1)]
        example = f", e.g. {others[:3]}" if labels.dtype.kind != "b" and others else ""
        raise ValueError(
            f"y must label each image 1 (normal) or -1 ({outlier_name}), as scikit-learn's "
            f"outlier detectors' predict does; got labels of dtype {labels.dtype}{example}."
        )
    n_normal = int(np.sum(labels == 1))
    if n_normal < min_normal:
        found = "no image" if n_normal == 0 else f"only {n_normal} image{'s' * (n_normal > 1)}"
        raise ValueError(
            f"y labels {found} normal (1); at least {min_normal} normal image"
            f"{'s' * (min_normal > 1)} needed to learn from."
        )
    return labels.astype(int)
