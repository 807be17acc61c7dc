"""How well decoded images match their sources: identification rate and error vs the mean image."""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from sknovel.utils.images import to_unit_float


def inversion_identification_rate(originals, inverted, *, n_candidates=100, random_state=None):
    """Fraction of inverted images whose own source is their nearest candidate (pixel MSE).

    For each inverted image i, the candidates are its source ``originals[i]`` and
    ``n_candidates - 1`` other originals drawn at random (without replacement). The inversion
    identifies its source when the mean squared pixel error to the source is strictly smaller
    than to every other candidate (a tie counts as a miss). Chance level is
    ``1 / n_candidates``.

    Parameters
    ----------
    originals : array-like of shape (n, H, W) or (n, H, W, C)
        The source images, uint8 in [0, 255] or float in [0, 1].
    inverted : array-like of the same shape
        The decoded images, on the same scale (uint8 or float in [0, 1]).
    n_candidates : int, default=100
        Candidates per inverted image, its source included; at most n. With
        ``n_candidates == n`` all originals compete and nothing is random.
    random_state : int, RandomState instance or None, default=None
        Draws the other candidates of each image.

    Returns
    -------
    rate : float
        In [0, 1].

    See Also
    --------
    inversion_mse_ratio : Pixel error relative to that of the mean image.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import inversion_identification_rate
    >>> originals = np.random.default_rng(0).random((10, 4, 4))
    >>> inversion_identification_rate(originals, originals * 0.9, n_candidates=10)
    1.0
    """
    originals, inverted = _check_pair(originals, inverted)
    n = len(originals)
    if (
        not isinstance(n_candidates, Integral)
        or isinstance(n_candidates, bool)
        or not 2 <= n_candidates <= n
    ):
        raise ValueError(
            f"n_candidates must be an integer in [2, {n}] (the number of images); "
            f"got {n_candidates!r}."
        )
    rng = check_random_state(random_state)
    flat_originals = originals.reshape(n, -1)
    hits = 0
    for i in range(n):
        if n_candidates == n:
            others = np.delete(np.arange(n), i)
        else:
            others = rng.choice(n - 1, n_candidates - 1, replace=False)
            others += others >= i  # skip the source itself
        errors = ((flat_originals[others] - inverted[i].reshape(1, -1)) ** 2).mean(1)
        own = ((flat_originals[i] - inverted[i].ravel()) ** 2).mean()
        hits += bool(own < errors.min())
    return hits / n


def inversion_mse_ratio(originals, inverted, *, baseline=None):
    """Mean squared pixel error of the inversions over that of a constant baseline image.

    ``mean_i MSE(inverted_i, originals_i) / mean_i MSE(baseline, originals_i)``: 1 means
    the decoder does no better than always answering the baseline, 0 is a perfect inversion.

    Parameters
    ----------
    originals : array-like of shape (n, H, W) or (n, H, W, C)
        The source images, uint8 in [0, 255] or float in [0, 1].
    inverted : array-like of the same shape
        The decoded images, on the same scale.
    baseline : array-like of shape (H, W) or (H, W, C), default=None
        The reference image, e.g. the mean of the decoder's training images
        (``UCInverter.mean_image_``), on the same scale. None: the mean of `originals`.

    Returns
    -------
    ratio : float

    See Also
    --------
    inversion_identification_rate : How often an inversion is nearest its own source.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import inversion_mse_ratio
    >>> originals = np.random.default_rng(0).random((10, 4, 4))
    >>> float(inversion_mse_ratio(originals, np.repeat(originals.mean(0)[None], 10, 0)))
    1.0
    """
    originals, inverted = _check_pair(originals, inverted)
    if baseline is None:
        baseline = originals.mean(0)
    else:
        baseline = _as_unit_float(np.asarray(baseline), "baseline")
        if baseline.ndim == originals.ndim - 2:
            baseline = baseline[..., np.newaxis]
        if baseline.shape != originals.shape[1:]:
            raise ValueError(
                f"baseline must be one image of shape {originals.shape[1:]}; got shape "
                f"{baseline.shape}."
            )
    reference = ((originals - baseline) ** 2).mean()
    if reference == 0:
        raise ValueError("All originals equal the baseline image; the ratio is undefined.")
    return float(((originals - inverted) ** 2).mean() / reference)


def _check_pair(originals, inverted):
    originals = _as_unit_float(np.asarray(originals), "originals")
    inverted = _as_unit_float(np.asarray(inverted), "inverted")
    if originals.ndim == 3:
        originals = originals[..., np.newaxis]
    if inverted.ndim == 3:
        inverted = inverted[..., np.newaxis]
    if originals.ndim != 4:
        raise ValueError(
            f"originals must be images of shape (n, H, W) or (n, H, W, C); got shape "
            f"{originals.shape}."
        )
    if inverted.shape != originals.shape:
        raise ValueError(
            f"inverted must have the shape of originals {originals.shape}; got "
            f"{inverted.shape}. Resize the originals to the decoder's image size first."
        )
    if len(originals) < 2:
        raise ValueError(f"originals must hold at least 2 images; got {len(originals)}.")
    return originals, inverted


def _as_unit_float(images, name):
    """uint8 → float64 in [0, 1]; float stays (checked finite)."""
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise TypeError(
            f"{name} must be uint8 in [0, 255] or float in [0, 1]; got dtype {images.dtype}."
        )
    images = to_unit_float(images, np.float64)
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return images
