"""Discovery curves: how quickly a ranking reaches every class of a labelled set.

The metrics of Lee, Wagstaff et al. (2018), *Interpretable Discovery in Large
Image Data Sets*, eq. (3): the discovery curve of a ranking, its normalised
area (nAUC), and the two reference curves every discovery plot needs, the
best possible one (the oracle) and the exact expectation of random selection.
"""

# Authors: The sknovel developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import numbers

import numpy as np

from sknovel.metrics.validation import (
    check_labels,
    check_ranking,
    check_t,
    count_classes,
    unique_labels,
)

__all__ = [
    "discovery_curve",
    "discovery_nauc",
    "expected_random_discovery_curve",
    "oracle_discovery_curve",
]


def discovery_curve(y, ranking):
    """Number of distinct classes discovered after each selection.

    ``C_i`` is the number of distinct labels among the first ``i`` selected
    items, for ``i = 1 .. len(ranking)`` (Lee, Wagstaff et al. 2018, the curve
    summarised by their eq. 3).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class label of every item (integers, strings, ...). Labels are only
        compared for equality; they are never used to rank.

    ranking : array-like of shape (n_selections,)
        Distinct integer row indices into `y`, most novel first. It may be
        shorter than `y` (a partial ranking, e.g. ``Demud(n_selections=50)``).

    Returns
    -------
    curve : ndarray of shape (n_selections,), dtype=int
        ``curve[i - 1]`` is ``C_i``. Non-decreasing, starts at 1, grows by 0 or
        1 per selection.

    See Also
    --------
    discovery_nauc : The normalised area under this curve.
    oracle_discovery_curve : The best curve any ranking can reach.
    expected_random_discovery_curve : The expected curve of random selection.

    Notes
    -----
    One pass over the ranked labels plus one sort of them (to find where each
    label first occurs); no per-step set bookkeeping.

    References
    ----------
    .. [1] Y. Lee, K. L. Wagstaff et al., "Interpretable Discovery in Large
       Image Data Sets", 2018, eq. (3).

    Examples
    --------
    >>> from sknovel.metrics import discovery_curve
    >>> y = ["cat", "cat", "dog", "cat", "owl"]
    >>> discovery_curve(y, [0, 1, 2, 4])
    array([1, 1, 2, 3])
    """
    y = check_labels(y)
    ranking = check_ranking(ranking, n_samples=y.shape[0])
    return _curve(y, ranking)


def discovery_nauc(y, ranking, t=None):
    """Normalised area under the discovery curve, in percent.

    ``nAUC = 100 * sum_{i<=t} C_i / sum_{i<=t} min(i, k)``, with ``C_i`` the
    :func:`discovery_curve` and ``k`` the number of distinct labels in all of
    `y`. 100 means every selection up to ``t`` found a new class while one was
    left to find.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class label of every item. ``k`` counts the classes of all of `y`,
        not only of the ranked items.

    ranking : array-like of shape (n_selections,)
        Distinct integer row indices into `y`, most novel first.

    t : int, default=None
        Number of selections the area covers, in ``[1, n_selections]``.
        ``None`` means ``len(ranking)``.

    Returns
    -------
    nauc : float
        The normalised area, in ``(0, 100]``.

    See Also
    --------
    discovery_curve : The curve whose area this is.

    Notes
    -----
    The denominator is the area under the oracle curve ``min(i, k)``, so an
    ideal ranking scores exactly 100 for every ``t``. For ``t >= k`` this is
    eq. (3) of Lee, Wagstaff et al. (2018), whose normaliser is
    ``k (k + 1) / 2 + (t - k) k``; the same form is used by the authors' 2020
    code. Their 2018 plotting code summed ``C_0 .. C_{t-1}`` instead, an
    off-by-one that reads about 0.3 points lower on the digits data; we do not
    reproduce it.

    References
    ----------
    .. [1] Y. Lee, K. L. Wagstaff et al., "Interpretable Discovery in Large
       Image Data Sets", 2018, eq. (3).

    Examples
    --------
    >>> from sknovel.metrics import discovery_nauc
    >>> y = ["cat", "cat", "dog", "cat", "owl"]
    >>> discovery_nauc(y, [0, 2, 4])
    100.0
    >>> round(discovery_nauc(y, [0, 1, 2, 4]), 1)
    77.8
    """
    y = check_labels(y)
    ranking = check_ranking(ranking, n_samples=y.shape[0])
    t = check_t(t, ranking.shape[0], of="ranking")
    return nauc_of_curve(_curve(y, ranking[:t]), count_classes(y))


def expected_random_discovery_curve(y, t=None):
    """Exact expected discovery curve of uniformly random selection.

    For selection without replacement, class ``c`` (with ``n_c`` of the ``n``
    items) is still unseen after ``i`` picks with probability
    ``C(n - n_c, i) / C(n, i)``, so
    ``E[C_i] = sum_c (1 - C(n - n_c, i) / C(n, i))``. This is what
    :class:`~sknovel.RandomRanker` achieves on average, without the
    noise of sampling it.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class label of every item.

    t : int, default=None
        Length of the curve, in ``[1, n_samples]``. ``None`` means
        ``n_samples``.

    Returns
    -------
    curve : ndarray of shape (t,), dtype=float
        ``curve[i - 1]`` is ``E[C_i]``: non-decreasing, ``E[C_1] = 1`` and
        ``E[C_n] = k``.

    See Also
    --------
    discovery_curve : The curve of one ranking.
    oracle_discovery_curve : The best curve any ranking can reach.

    Notes
    -----
    The binomial ratio is the running product
    ``prod_{j<i} (1 - n_c / (n - j))``, accumulated as a sum of ``log1p``
    terms and turned back with ``expm1``: nothing overflows for any ``n``, and
    ``1 - ratio`` keeps full relative precision while it is small (about
    1e-15 absolute error at ``n = 200 000``). Classes of equal size share one
    computation.

    Examples
    --------
    >>> from sknovel.metrics import expected_random_discovery_curve
    >>> expected_random_discovery_curve(["a", "a", "b"]).round(4)
    array([1.    , 1.6667, 2.    ])
    """
    y = check_labels(y)
    n_samples = y.shape[0]
    t = check_t(t, n_samples, of="y")
    _, class_sizes = unique_labels(y, return_counts=True)
    sizes, n_classes_of_size = np.unique(class_sizes, return_counts=True)
    expected = np.zeros(t)
    for size, multiplicity in zip(sizes, n_classes_of_size):
        expected += multiplicity * _prob_class_seen(n_samples, int(size), t)
    return expected


def oracle_discovery_curve(y, t=None):
    """Best possible discovery curve: ``min(i, k)``.

    An oracle that knows the labels picks one item of a new class at every
    step until all ``k`` classes are found.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class label of every item.

    t : int, default=None
        Length of the curve, in ``[1, n_samples]``. ``None`` means
        ``n_samples``.

    Returns
    -------
    curve : ndarray of shape (t,), dtype=int
        ``curve[i - 1] = min(i, k)``.

    See Also
    --------
    discovery_nauc : Normalises by the area under this curve.

    Examples
    --------
    >>> from sknovel.metrics import oracle_discovery_curve
    >>> oracle_discovery_curve(["a", "a", "b", "c", "a"])
    array([1, 2, 3, 3, 3])
    """
    y = check_labels(y)
    t = check_t(t, y.shape[0], of="y")
    return np.minimum(np.arange(1, t + 1), count_classes(y))


def _curve(y, ranking):
    """Discovery curve of validated inputs."""
    # np.unique returns the *first* occurrence of each label in the ranked
    # sequence: exactly the steps where a new class is discovered.
    _, first_seen = unique_labels(y[ranking], return_index=True)
    is_new = np.zeros(ranking.shape[0], dtype=np.intp)
    is_new[first_seen] = 1
    return np.cumsum(is_new)


def nauc_of_curve(curve, n_classes):
    """Normalised area under a discovery curve given as counts (integer or expected).

    The area of ``C_1 .. C_t`` over that of the oracle curve ``min(i, n_classes)``, in
    percent (Lee, Wagstaff et al. 2018, eq. 3). :func:`discovery_nauc` computes the curve
    from labels and a ranking first; this takes a curve at hand, e.g. the expected curve
    of random selection from :func:`expected_random_discovery_curve`.

    Parameters
    ----------
    curve : array-like of shape (t,)
        Classes discovered after 1, 2, ..., t picks.
    n_classes : int
        Number of classes in the collection.

    Returns
    -------
    nauc : float
        In [0, 100] for a curve no higher than the oracle's.

    Examples
    --------
    >>> from sknovel.metrics import nauc_of_curve
    >>> nauc_of_curve([1, 2, 2], n_classes=2)
    100.0
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or curve.shape[0] == 0:
        raise ValueError(f"curve must be a non-empty 1-D array; got shape {curve.shape}.")
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer; got {n_classes!r}.")
    t = len(curve)
    return 100.0 * float(np.sum(curve)) / _oracle_area(t, n_classes)


def _oracle_area(t, n_classes):
    """``sum_{i=1}^{t} min(i, k)`` in closed form, as an exact integer."""
    ramp = min(t, n_classes)
    return ramp * (ramp + 1) // 2 + (t - ramp) * n_classes


def _prob_class_seen(n_samples, size, t):
    """``1 - C(n - size, i) / C(n, i)`` for ``i = 1 .. t``."""
    prob = np.ones(t)
    n_terms = min(t, n_samples - size)
    if n_terms > 0:
        # log C(n - size, i) / C(n, i) <= i * log1p(-size / n): past 50 / |log1p(-size / n)|
        # picks the class is unseen with probability below exp(-50), and 1 - p is
        # 1.0 in double precision. Skipping those picks makes large classes cheap.
        n_terms = min(n_terms, math.ceil(50.0 / -math.log1p(-size / n_samples)))
        remaining = n_samples - np.arange(n_terms)
        prob[:n_terms] = -np.expm1(np.cumsum(np.log1p(-size / remaining)))
    return prob
