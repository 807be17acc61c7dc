"""Comparing two maps of the same image: top-K agreement, distance to best match, MSE.

The metrics of Feeney & Hughes (2021), *Evaluating the Use of Reconstruction Error for
Novelty Localization*, which compare an autoencoder's reconstruction-error map with a gradient
saliency map, plus the exact chance level of top-K agreement.

Every function takes one map of shape (H, W) or a batch of shape (n, H, W) and returns a
scalar or an array of shape (n,). **Top-K pixels** of a map are its K largest values, ties
broken by the lower flat (row-major) index: a stable sort on the negated values. Deterministic,
and the same rule everywhere.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import numbers

import numpy as np

from sknovel.metrics.validation import check_k, check_map_pair

__all__ = [
    "map_mse",
    "max_distance_to_best_match",
    "top_k_agreement",
    "top_k_agreement_chance",
]


def top_k_agreement(a, b, k):
    """Number of pixels among the top-K of both maps.

    ``|topK(a) ∩ topK(b)|``, an integer in ``[0, k]``; symmetric in `a` and `b`, and unchanged
    by any strictly increasing transformation of either map (it only uses their order).

    Parameters
    ----------
    a : array-like of shape (H, W) or (n, H, W)
        One map, or a batch of maps.
    b : array-like of the shape of `a`
        The maps to compare with, e.g. error maps for saliency maps `a`.
    k : int
        Number of top pixels of each map, in ``[1, H * W]``.

    Returns
    -------
    agreement : int or ndarray of shape (n,), dtype=int
        A Python int for one map, an array for a batch.

    See Also
    --------
    top_k_agreement_chance : The distribution of this number for random maps.
    max_distance_to_best_match : How far the top pixels of two maps lie apart.

    Notes
    -----
    Top-K pixels are the K largest values; among equal values the lower flat (row-major)
    index comes first.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import top_k_agreement
    >>> a = np.array([[0.9, 0.1], [0.8, 0.0]])
    >>> b = np.array([[1.0, 0.7], [0.2, 0.3]])
    >>> top_k_agreement(a, b, k=2)
    1
    """
    a, b, single = check_map_pair(a, b, ("a", "b"))
    k = check_k(k, a.shape[1] * a.shape[2])
    top_a, top_b = _top_k(a, k), _top_k(b, k)
    rows = np.arange(len(a))[:, np.newaxis]
    in_top_b = np.zeros((len(a), a.shape[1] * a.shape[2]), dtype=bool)
    in_top_b[rows, top_b] = True
    agreement = in_top_b[rows, top_a].sum(axis=1)
    return int(agreement[0]) if single else agreement


def max_distance_to_best_match(reference, other, k):
    """Largest distance from a top-K pixel of `reference` to its nearest top-K pixel of `other`.

    For each of the K most salient pixels of `reference`, the Euclidean distance (in pixels,
    between (row, column) positions) to the closest of the K largest pixels of `other`; the
    maximum of those K distances. 0 when the top-K sets coincide. Not symmetric: Feeney &
    Hughes take the saliency map as the reference and the error map as `other`.

    Parameters
    ----------
    reference : array-like of shape (H, W) or (n, H, W)
        One map, or a batch of maps (the saliency maps).
    other : array-like of the shape of `reference`
        The maps whose top pixels are searched (the error maps).
    k : int
        Number of top pixels of each map, in ``[1, H * W]``.

    Returns
    -------
    distance : float or ndarray of shape (n,)
        A Python float for one map, an array for a batch.

    See Also
    --------
    top_k_agreement : How many top pixels the maps share.

    Notes
    -----
    Top-K pixels are the K largest values; among equal values the lower flat (row-major)
    index comes first.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import max_distance_to_best_match
    >>> saliency = np.zeros((5, 5)); saliency[0, 0] = 1
    >>> error = np.zeros((5, 5)); error[3, 4] = 1
    >>> max_distance_to_best_match(saliency, error, k=1)
    5.0
    """
    reference, other, single = check_map_pair(reference, other, ("reference", "other"))
    k = check_k(k, reference.shape[1] * reference.shape[2])
    width = reference.shape[2]
    top_ref, top_other = _top_k(reference, k), _top_k(other, k)
    rows = (top_ref // width)[:, :, np.newaxis] - (top_other // width)[:, np.newaxis, :]
    cols = (top_ref % width)[:, :, np.newaxis] - (top_other % width)[:, np.newaxis, :]
    nearest = np.sqrt((rows**2 + cols**2).min(axis=2))
    distance = nearest.max(axis=1)
    return float(distance[0]) if single else distance


def map_mse(a, b):
    """Mean squared difference between two maps, per map.

    Feeney & Hughes compare maps that were each divided by their own maximum (as
    :class:`~sknovel.explain.AutoencoderSaliency` returns them); this function does not
    rescale its inputs.

    Parameters
    ----------
    a : array-like of shape (H, W) or (n, H, W)
        One map, or a batch of maps.
    b : array-like of the shape of `a`
        The maps to compare with.

    Returns
    -------
    mse : float or ndarray of shape (n,)
        ``mean((a - b) ** 2)`` over the pixels of each map; a Python float for one map.

    Examples
    --------
    >>> import numpy as np
    >>> from sknovel.metrics import map_mse
    >>> map_mse(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))
    0.5
    """
    a, b, single = check_map_pair(a, b, ("a", "b"))
    mse = ((a - b) ** 2).mean(axis=(1, 2))
    return float(mse[0]) if single else mse


def top_k_agreement_chance(k, n_pixels):
    """Exact distribution of top-K agreement between two independent random maps.

    For two maps whose top-K sets are independent uniformly random K-subsets of the
    ``n_pixels`` pixels, the agreement is hypergeometric:
    ``P(agreement = j) = C(k, j) C(n - k, k - j) / C(n, k)``. Its mean is ``k**2 / n``
    (0.128 for K = 10 on 28×28 images): the chance level beside which the agreement of real
    maps should be read.

    Parameters
    ----------
    k : int
        Number of top pixels of each map, in ``[1, n_pixels]``.
    n_pixels : int
        Number of pixels of a map, ``H * W``.

    Returns
    -------
    probabilities : ndarray of shape (k + 1,)
        ``probabilities[j]`` is the probability that exactly j pixels agree; they sum to 1.

    See Also
    --------
    top_k_agreement : The agreement of two given maps.

    Examples
    --------
    >>> from sknovel.metrics import top_k_agreement_chance
    >>> top_k_agreement_chance(1, 4)
    array([0.75, 0.25])
    >>> p = top_k_agreement_chance(10, 784)
    >>> round(float(p @ range(11)), 4)  # the mean, 10 ** 2 / 784
    0.1276
    """
    if not isinstance(n_pixels, numbers.Integral) or isinstance(n_pixels, bool) or n_pixels < 1:
        raise ValueError(f"n_pixels must be a positive integer; got {n_pixels!r}.")
    n_pixels = int(n_pixels)
    k = check_k(k, n_pixels)
    total = math.comb(n_pixels, k)
    # Exact integers; int / int rounds correctly even where the integers exceed float range.
    return np.array(
        [math.comb(k, j) * math.comb(n_pixels - k, k - j) / total for j in range(k + 1)]
    )


def _top_k(maps, k):
    """(n, H, W) maps → (n, k) flat indices of their K largest values, lower index on ties."""
    flat = maps.reshape(len(maps), -1)
    return np.argsort(-flat, axis=1, kind="stable")[:, :k]
